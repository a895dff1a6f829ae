"""Load the official OSTrack checkpoint (``OSTrack_ep0300.pth.tar``, weights under ``net``) strictly."""

from __future__ import annotations

from pathlib import Path

from hmtools.errors import CheckpointError
from hmtools.pseudo.checkpoints import load_state_file, require_checkpoint, strict_load
from hmtools.pseudo.ostrack.build import OSTrack, build_ostrack

OSTRACK_PUBLISHED_AT = ("github.com/botaoye/OSTrack (README: trained models on Google Drive, "
                        "output/checkpoints/train/ostrack/<config>/OSTrack_ep0300.pth.tar)")


def load_ostrack(config: str, checkpoint: str | Path | None,
                 allow_pickled_objects: bool = False) -> OSTrack:
    """Build OSTrack ``config`` (``vitb_256`` / ``vitb_384``) and load ``checkpoint`` strictly.

    The checkpoint is read on the CPU with ``weights_only=True``; ``allow_pickled_objects`` enables
    the placeholder unpickler for checkpoints that also pickled training objects.

    Raises:
        CheckpointError: missing file, no ``net`` key, or a key / shape mismatch (which usually
            means the checkpoint belongs to the other configuration).
    """
    path = require_checkpoint(checkpoint, f"OSTrack {config}", OSTRACK_PUBLISHED_AT)
    obj = load_state_file(path, allow_placeholders=allow_pickled_objects)
    if not isinstance(obj, dict) or "net" not in obj:
        keys = sorted(obj)[:5] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: not an OSTrack checkpoint (no 'net' key; found {keys})")
    state = obj["net"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: 'net' holds {type(state).__name__}, expected a state dict")
    model = build_ostrack(config)
    strict_load(model, state, path, f"OSTrack {config}")
    return model
