"""What a training run writes besides checkpoints: ``metrics.jsonl``, ``skipped.jsonl`` and, when
the ``tensorboard`` package is installed, TensorBoard event files under ``<run_dir>/tensorboard``.

The JSON lines are the record (one object per epoch, printed too); the event files carry the same
numbers for people who browse runs in TensorBoard (``tensorboard --logdir runs``), as RICA2 and
other AQA codes do. Without tensorboard nothing else changes.

Example:
    >>> log = RunLog(Path("runs/x"))                                    # doctest: +SKIP
    >>> log.epoch({"epoch": 1, "loss": 0.5, "eval": {"rho": 0.9}})       # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
SKIPPED_FILE = "skipped.jsonl"
TENSORBOARD_DIR = "tensorboard"


def scalars(line: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a metrics line, nested keys joined by ``/`` (``eval/rho``, ``lr/i3d``)."""
    out: dict[str, float] = {}
    for key, value in line.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(scalars(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


class RunLog:
    """Appends epoch lines to ``metrics.jsonl`` (and TensorBoard when installed); rank 0 only."""

    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self._tensorboard = tensorboard
        self._writer = None

    def _tensorboard_writer(self):
        """The event-file writer, made with the first epoch line: a run that fails before it
        (a full disk, Ctrl-C, a bad dataset) leaves no event file behind."""
        if self._writer is None and self._tensorboard:
            self._tensorboard = False
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard package is an optional extra
                log.debug("tensorboard is not installed: metrics.jsonl only")
            else:
                self._writer = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR))
        return self._writer

    def epoch(self, line: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)
        writer = self._tensorboard_writer()
        if writer is not None:
            step = int(line["epoch"])
            for name, value in scalars({k: v for k, v in line.items() if k != "epoch"}).items():
                writer.add_scalar(name, value, step)
            writer.flush()

    def skipped(self, record: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / SKIPPED_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def log_skipped(run_dir: Path, rank: int, epoch: int, step: int, videos: list[str], loss: float,
                gnorm: float) -> None:
    """Warn about a skipped batch (0-based ``epoch``/``step``) and append it to ``skipped.jsonl``."""
    log.warning("epoch %d step %d skipped: loss %s, gradient norm %s (videos: %s)",
                epoch + 1, step + 1, loss, gnorm, ", ".join(videos))
    RunLog(run_dir, tensorboard=False).skipped(
        {"epoch": epoch + 1, "step": step + 1, "rank": rank,
         "loss": loss if math.isfinite(loss) else str(loss),
         "grad_norm": gnorm if math.isfinite(gnorm) else str(gnorm), "videos": videos})


def run_notices(cfg, mcfg, transitions_valid) -> list[str]:
    """What a run cannot do although its configuration asks for it, said once per run (log and
    the first metrics line): L_T on a dataset whose training clips have no step transitions."""
    notices = []
    if cfg.loss_t and mcfg.tap and not bool(transitions_valid.any()):
        notices.append(f"L_T is zero: no training clip of dataset {cfg.dataset!r} has step transitions "
                       "(MTL-AQA and AQA-7 have none), so TAP's soft labels supervise nothing")
    return notices
