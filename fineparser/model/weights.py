"""Loading the pretrained backbones from local files (nothing is downloaded).

- I3D: the Kinetics ``model_rgb.pth`` of hassony2/kinetics_i3d_pytorch (the file CoRe, TSA and
  FineParser load): a plain state dict in the layout of :class:`~fineparser.model.i3d.I3D`. Its
  ``conv3d_0c_1x1`` logits are ignored.
- ResNet: a torchvision ``resnet18/34/50`` state dict (e.g. ``resnet34-b627a593.pth`` from
  download.pytorch.org); ``fc.*`` is ignored.
- ViT-S/16 (``sve_backbone=vit_small_patch16_224``): timm's ``vit_small_patch16_224`` state dict
  (``pytorch_model.bin``; a ``.safetensors`` file needs the ``safetensors`` package); ``head.*``
  is ignored.

Files are read with ``torch.load(weights_only=True)``. A dict wrapped in a top-level ``state_dict``
or ``model`` key, or with every key prefixed by ``module.`` (DataParallel), is accepted. Every key
and shape is checked before anything is copied; any difference raises one
:class:`~hmtools.errors.CheckpointError` naming the file, the counts and the first keys. Missing
``num_batches_tracked`` entries (older checkpoints) are tolerated.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from hmtools.errors import CheckpointError
from hmtools.pseudo.checkpoints import LOAD_ERRORS, torch_load_reason, zip_damage

log = logging.getLogger(__name__)

I3D_SOURCE = ("the Kinetics I3D 'model_rgb.pth' (hassony2/kinetics_i3d_pytorch, "
              "also shipped with CoRe/TSA/FineParser)")
RESNET_SOURCE = "a torchvision ResNet state dict (e.g. resnet34-b627a593.pth from download.pytorch.org)"
VIT_SOURCE = ("timm's vit_small_patch16_224 state dict (pytorch_model.bin or model.safetensors of "
              "timm/vit_small_patch16_224.augreg_in21k_ft_in1k on the Hugging Face hub)")
_SHOW = 3  # keys listed per kind of mismatch


def read_state_dict(path: str | Path, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` with ``weights_only=True``.

    Raises:
        CheckpointError: missing/unreadable file, or not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found; expected {what}")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, what)
    if damage := zip_damage(path):
        raise CheckpointError(f"{path}: corrupt file, expected {what} ({damage})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as err:
        raise CheckpointError(f"{path}: cannot be read as {what} with weights_only=True "
                              f"({torch_load_reason(err)})") from None
    if isinstance(data, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(data.get(wrapper), dict):
                data = data[wrapper]
                break
    if not isinstance(data, dict) or not data:
        raise CheckpointError(f"{path}: expected a state dict (name -> tensor) for {what}, "
                              f"got {type(data).__name__}")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} entries are not tensors (first: {bad[0]!r})")
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def _read_safetensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{path}: reading .safetensors needs the safetensors package "
                              "(pip install safetensors), or give the .bin file") from None
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{path}: cannot be read as {what} ({err})") from None


def check_state_dict(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path,
                     what: str, ignore_prefixes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Compare ``state`` with ``module.state_dict()`` key by key and shape by shape.

    Returns:
        The entries to load (ignored prefixes dropped, missing ``num_batches_tracked`` filled in).

    Raises:
        CheckpointError: one line listing missing, unexpected and mis-shaped keys.
    """
    expected = module.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected),
                        ("with the wrong shape", mismatched)):
        if keys:
            more = f", ... {len(keys) - _SHOW} more" if len(keys) > _SHOW else ""
            problems.append(f"{len(keys)} {label} ({', '.join(keys[:_SHOW])}{more})")
    if problems:
        raise CheckpointError(f"{path}: does not match {what}: {'; '.join(problems)}")
    for k, v in expected.items():
        if k not in state:  # num_batches_tracked only
            state[k] = torch.zeros_like(v)
    return state


def _load_strict(module: nn.Module, path: str | Path, source: str, what: str,
                 ignore_prefixes: tuple[str, ...]) -> int:
    state = check_state_dict(module, read_state_dict(path, source), path, what, ignore_prefixes)
    module.load_state_dict(state, strict=True)
    return len(state)


def _i3d_of(model: nn.Module) -> nn.Module:
    from fineparser.model.i3d import I3D

    target = model if isinstance(model, I3D) else getattr(model, "i3d", None)
    if not isinstance(target, I3D):
        raise ValueError(f"load_i3d_weights: expected a UniFineParser or an I3D, got {type(model).__name__}")
    return target


def _sve_backbone_of(model: nn.Module) -> nn.Module:
    from torchvision.models import ResNet

    from fineparser.model.sve import StaticVisualEncoder
    from fineparser.model.vit import VisionTransformer

    target = getattr(model, "sve", model)
    if isinstance(target, StaticVisualEncoder):
        target = target.backbone
    if not isinstance(target, (ResNet, VisionTransformer)):
        raise ValueError("load_resnet_weights: expected a UniFineParser with SVE, a StaticVisualEncoder, "
                         f"a torchvision ResNet or a ViT, got {type(model).__name__}")
    return target


def load_i3d_weights(model: nn.Module, path: str | Path) -> int:
    """Load ``model_rgb.pth`` into the I3D of ``model`` (a UniFineParser or an I3D), strictly.

    Returns:
        Number of tensors loaded.

    Raises:
        CheckpointError: the file is missing, unreadable, or its keys/shapes differ.
    """
    return _load_strict(_i3d_of(model), path, I3D_SOURCE,
                        "the I3D backbone (Kinetics model_rgb.pth layout)", ("conv3d_0c_1x1.",))


def load_resnet_weights(model: nn.Module, path: str | Path) -> int:
    """Load the SVE backbone's file into ``model``, strictly: a torchvision ResNet state dict
    (``fc`` ignored) or, for the ViT-S/16 SVE, timm's ``vit_small_patch16_224`` (``head`` ignored).

    Returns:
        Number of tensors loaded.

    Raises:
        CheckpointError: the file is missing, unreadable, or its keys/shapes differ (e.g. a
            resnet50 file for a resnet34 SVE).
    """
    from fineparser.model.vit import VisionTransformer

    target = _sve_backbone_of(model)
    if isinstance(target, VisionTransformer):
        return _load_strict(target, path, VIT_SOURCE, "the SVE ViT-S/16 (timm layout)", ("head.",))
    return _load_strict(target, path, RESNET_SOURCE, "the SVE ResNet (torchvision layout)", ("fc.",))


def load_backbones(model: nn.Module, i3d_path: str | Path | None = None,
                   resnet_path: str | Path | None = None) -> list[str]:
    """Load whichever backbone files are given; say (log and return) what starts random.

    Returns:
        One human-readable line per backbone, e.g. "I3D: random weights (no model_rgb.pth given)".
    """
    lines = []
    if i3d_path is not None:
        n = load_i3d_weights(model, i3d_path)
        lines.append(f"I3D: loaded {n} tensors from {i3d_path}")
    else:
        lines.append(f"I3D: random weights (no file given; the paper starts from {I3D_SOURCE})")
    if getattr(model, "sve", None) is None:
        if resnet_path is not None:
            raise CheckpointError(f"{resnet_path}: a ResNet file was given but the model has no SVE")
    elif resnet_path is not None:
        n = load_resnet_weights(model, resnet_path)
        lines.append(f"SVE ResNet: loaded {n} tensors from {resnet_path}")
    else:
        lines.append(f"SVE ResNet: random weights (no file given; the paper starts from {RESNET_SOURCE})")
    for line in lines:
        (log.warning if "random" in line else log.info)(line)
    return lines
