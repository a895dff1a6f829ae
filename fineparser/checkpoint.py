"""Training checkpoints: everything needed to resume exactly, readable with ``weights_only=True``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (no pickled classes), so
``torch.load(path, weights_only=True)`` reads it and an untrusted file stays data::

    {"format": "fineparser-checkpoint", "version": 1,
     "epoch": completed epochs, "model": state dict, "model_config": ModelConfig.to_dict(),
     "train_config": TrainConfig.resolved_dict(), "optimizer": ..., "scheduler": ...,
     "ema": torch-ema state dict or None, "best_rho": float, "best_epoch": int,
     "rng": {"torch": uint8 tensor, "cuda": [uint8 tensors], "numpy": {...}, "python": [...]},
     "metrics": the epoch's metrics line}

:func:`restore_training_state` puts model, optimiser, scheduler, EMA and RNG states back (the
trainer's resume; :func:`seed_everything` is a fresh run's start).

Files are written with :func:`hmtools.atomic.atomic_path` (temporary file in the same folder,
fsynced, renamed, the folder fsynced): a run killed while saving leaves the previous checkpoint
intact.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmtools.errors import CheckpointError
from hmtools.pseudo.checkpoints import LOAD_ERRORS, zip_damage

FORMAT = "fineparser-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("epoch", "model", "model_config", "train_config")


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA generator states as weights_only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": [version, list(py_state), py_gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only when as many GPUs are present)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    version, py_state, py_gauss = state["python"]
    random.setstate((version, tuple(py_state), py_gauss))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (a run's start; a resume restores them)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def restore_training_state(ckpt: dict[str, Any], path: str | Path, model, optimizer, scheduler, ema,
                           device: torch.device) -> tuple[int, float, int]:
    """Put a checkpoint's model, optimiser, scheduler, EMA and RNG states back for an exact resume.

    Returns:
        ``(epoch, best_rho, best_epoch)`` stored in it.

    Raises:
        CheckpointError: weights, optimiser, scheduler or EMA that do not fit (names ``path``).
    """
    load_model_state(model, ckpt["model"], path)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ema is not None:
            if ckpt.get("ema") is None:
                raise ValueError("it has no EMA state but ema_decay > 0")
            ema.load_state_dict(ckpt["ema"])
            ema.to(device)
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot resume the optimiser/scheduler/EMA ({err})") from None
    set_rng_state(ckpt["rng"])
    return int(ckpt["epoch"]), float(ckpt["best_rho"]), int(ckpt["best_epoch"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format tag) atomically to ``path``."""
    from hmtools.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    return path


def copy_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Atomically make ``dst`` a copy of ``src`` (a hard link when the file system allows:
    ``src`` is later replaced, never modified in place, so the link keeps this version)."""
    from hmtools.atomic import atomic_path

    src, dst = Path(src), Path(dst)
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return dst


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: missing, truncated or corrupt file, or not a fineparser training
            checkpoint (one line naming the file).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if damage := zip_damage(path):
        raise CheckpointError(f"{path}: corrupt checkpoint ({damage})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as err:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({_reason(err)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fineparser training checkpoint (a run folder's "
                              "last.pt or best.pt); backbone weights go to i3d_weights/resnet_weights")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r}, this fineparser "
                              f"reads version {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)`` with a one-line CheckpointError on any mismatch."""
    from fineparser.model.weights import check_state_dict

    state = check_state_dict(model, dict(state), path, "this model configuration")
    model.load_state_dict(state, strict=True)


def _reason(err: BaseException) -> str:
    """A short cause: the first sentence of the first line of torch's (often long) message."""
    from hmtools.pseudo.checkpoints import REFUSED, torch_load_reason

    reason = torch_load_reason(err)
    if isinstance(err, pickle.UnpicklingError):
        return f"not a torch file, or {REFUSED}" + ("" if reason == REFUSED else f": {reason}")
    return reason
