"""A trained run, loaded once for inference: :func:`load_run` is where ``fineparser eval`` and
``fineparser predict`` start (and :func:`load_run_config` where a resumed training starts).

A checkpoint carries its model configuration, its resolved training configuration and the weights
(raw and EMA). Loading a run reads it once, applies ``key=value`` overrides to the stored
configuration (a moved ``data_root``, ``model.num_exemplars=5``; other ``model.*`` changes are
ignored with a warning: the checkpoint fixes the architecture), builds the model with the EMA
weights (unless asked for the raw ones) in ``eval()`` mode, opens the dataset, builds the clip
table (no masks: inference never sees them) and the exemplar pool of the training split.

Example:
    >>> run = load_run("runs/demo/best.pt", ["model.num_exemplars=5"])     # doctest: +SKIP
    >>> plan, _ = run.data.plan(run.data.table.indices("test"), run.mcfg.num_exemplars,
    ...                         run.cfg.seed, "test")                      # doctest: +SKIP
    >>> run.predictor().predict_rows(run.data.table.indices("test"), plan)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from fineparser.config import ModelConfig
from fineparser.distributed import DistInfo
from fineparser.inputs import RunData
from fineparser.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What :func:`load_run` returns.

    Attributes:
        checkpoint: the path given.
        epoch: epochs the checkpoint had trained.
        cfg: the stored training configuration with the overrides.
        mcfg: the checkpoint's model configuration, ``num_exemplars`` from ``cfg``.
        model: the trained :class:`~fineparser.model.UniFineParser`, ``eval()`` mode, on ``info.device``.
        weights: ``"ema"`` or ``"raw"``.
        info: this process (a ``torchrun`` group when ``distributed``).
        data: samples, clip table (no masks) and the exemplar pool.
    """

    checkpoint: Path
    epoch: int
    cfg: TrainConfig
    mcfg: ModelConfig
    model: torch.nn.Module
    weights: str
    info: DistInfo
    data: RunData

    def predictor(self, **changes):
        """A :class:`~fineparser.predictor.Predictor` of the model over the run's table, with the
        configuration's inference settings (``changes`` override them, e.g. ``workers=0``)."""
        from fineparser.predictor import Predictor

        return Predictor.from_config(self.model, self.data.table, self.cfg, self.info, **changes)


def load_run_config(checkpoint: str | Path, overrides: Sequence[str] = (), config: str | Path | None = None,
                    base_changes: dict | None = None, **fields) -> tuple[dict, TrainConfig]:
    """Read a checkpoint and resolve its stored training configuration.

    Args:
        checkpoint: a checkpoint, or a run folder (its ``last.pt``).
        overrides: ``key=value`` strings, applied last.
        config: a JSON configuration applied over the stored one.
        base_changes: changes of the stored configuration before anything else (the trainer
            moves ``run_dir`` to the checkpoint's folder).
        fields: values of dedicated options (``None`` is ignored).

    Returns:
        ``(checkpoint dict, TrainConfig)``.

    Raises:
        CheckpointError: unreadable checkpoint. ConfigError: a bad override.
    """
    from fineparser.checkpoint import load_checkpoint
    from fineparser.train_config import load_train_config

    ckpt = load_checkpoint(checkpoint)
    base = {**ckpt["train_config"], **(base_changes or {})}
    return ckpt, load_train_config(config, overrides, base=base, **fields)


def load_trained_model(checkpoint: str | Path | dict, use_ema: bool = True,
                       device: torch.device | None = None, path: str | Path | None = None):
    """The trained model of a run, in eval mode, with the EMA weights when kept and wanted.

    Args:
        checkpoint: a checkpoint path, or a dict already read by
            :func:`~fineparser.checkpoint.load_checkpoint` (then ``path`` names it in errors).

    Returns:
        ``(model, weights)`` where ``weights`` is ``"ema"`` or ``"raw"``; ``model.config`` is
        the stored ModelConfig.

    Raises:
        CheckpointError: unreadable checkpoint, or weights that do not fit the stored configuration.
    """
    from torch_ema import ExponentialMovingAverage

    from fineparser.checkpoint import load_checkpoint, load_model_state
    from fineparser.model import build_model
    from hmtools.errors import CheckpointError

    if isinstance(checkpoint, dict):
        ckpt, path = checkpoint, path or "checkpoint"
    else:
        ckpt, path = load_checkpoint(checkpoint), checkpoint
    try:
        mcfg = ModelConfig.from_dict(ckpt["model_config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: stored model configuration is invalid ({err})") from None
    model = build_model(mcfg)
    load_model_state(model, ckpt["model"], path)
    weights = "raw"
    if use_ema and ckpt.get("ema") is not None:
        try:
            ema = ExponentialMovingAverage(model.parameters(), decay=float(ckpt["ema"]["decay"]))
            ema.load_state_dict(ckpt["ema"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{path}: EMA weights do not fit the model ({err})") from None
        ema.copy_to(model.parameters())
        weights = "ema"
    if (ckpt.get("train_config") or {}).get("channels_last"):
        model.to_channels_last()  # the layout the run trained in (same numbers, faster on CPUs)
    if device is not None:
        model.to(device)
    model.eval()
    return model, weights


def load_run(checkpoint: str | Path, overrides: Sequence[str] = (), use_ema: bool = True,
             distributed: bool = False) -> Run:
    """Load a trained run for inference; see the module docstring.

    Args:
        checkpoint: a run's ``best.pt``/``last.pt`` (or the run folder: ``last.pt``).
        overrides: ``key=value`` changes of the stored training configuration.
        use_ema: the EMA weights (default) rather than the raw ones.
        distributed: join the ``torchrun`` group when launched by it (evaluation); otherwise
            one process on ``cfg.device``.

    Raises:
        CheckpointError, ConfigError, DatasetError, StoreError: as their messages say.
    """
    from fineparser.distributed import init_distributed, resolve_device
    from fineparser.inputs import open_data

    checkpoint = Path(checkpoint)
    ckpt, cfg = load_run_config(checkpoint, overrides)
    info = init_distributed(cfg.device) if distributed else DistInfo(0, 1, 0, resolve_device(cfg.device))
    model, weights = load_trained_model(ckpt, use_ema, info.device, path=checkpoint)
    mcfg = model.config.replace(num_exemplars=cfg.model_config().num_exemplars)
    if cfg.model_config() != mcfg:
        log.warning("model.* overrides other than num_exemplars are ignored: the checkpoint fixes "
                    "the architecture")
    data = open_data(cfg, mcfg, masks="none")
    return Run(checkpoint, int(ckpt["epoch"]), cfg, mcfg, model, weights, info, data)
