"""Training configuration: one dataclass, a JSON file, ``--set key=value`` overrides.

Order (timm / sam2 style): defaults of :class:`TrainConfig` <- JSON file <- command-line overrides;
the resolved configuration (with the full model configuration) is written to
``<run_dir>/config.json`` and can be passed back with ``--config`` to repeat the run.

Types are declared once, on the dataclass fields: an override's value is read as JSON when it
parses (``3``, ``1e-4``, ``true``, ``null``, ``[224, 224]``) and as a plain string otherwise, then
checked against the field's type. Keys ``model.<field>`` override the model preset's
:class:`~fineparser.config.ModelConfig` (e.g. ``--set model.num_queries=9``,
``--set model.exemplar_setting=DD``).

Learning rates (paper Sec. 4.3, paper-notes row 19): Adam without weight decay; I3D and the
temperature tau at 1e-4, the SVE ResNet and every other head at 1e-3.

Schedules (``schedule``, :mod:`fineparser.optim`):

* ``constant``: the published TSA and CoRe codes (no scheduler);
* ``cosine`` (default): per epoch, after an optional linear warm-up, cosine decay of every group
  from its learning rate to ``lr * min_lr_ratio`` over ``epochs``;
* ``step``: per epoch, multiply by ``step_gamma`` every ``step_epochs`` epochs;
* ``timm_cosine``: the published FineParser code: timm's ``CosineLRScheduler`` with
  ``warmup_epochs`` of linear warm-up from ``warmup_lr_init``, stepped after every batch, down to
  ``min_lr``.

Recipes (``recipe``, :mod:`fineparser.recipes`): ``ours`` (the defaults below) or ``paper`` (the
paper's recipe, and the FineParser code's where the paper is silent); a recipe's values come
before the file and the overrides.

Example:
    >>> cfg = load_train_config("configs/demo.json", ["masks=none", "epochs=3"])  # doctest: +SKIP
    >>> cfg.masks, cfg.epochs                                                      # doctest: +SKIP
    ('none', 3)
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hmtools.atomic import atomic_write_text
from hmtools.datasets import DATASET_KINDS
from hmtools.errors import HMError

DATASETS = DATASET_KINDS  # hmtools.datasets declares the kinds once
MASK_MODES = ("gtm", "pm", "none")
SCHEDULES = ("constant", "cosine", "step", "timm_cosine")
DEVICES = ("auto", "cpu", "cuda")
CONFIG_FILE = "config.json"


class ConfigError(HMError, ValueError):
    """A training configuration file or override is unreadable, unknown or of the wrong type."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the model architecture (which is ``model_preset``
    plus the ``model`` overrides).

    Attributes:
        dataset: Adapter of :func:`hmtools.datasets.open_dataset`: ``finediving``, ``synthetic``
            (``hmtools synth`` output, FineDiving layout), ``mtlaqa`` or ``aqa7``.
        data_root: Dataset root folder.
        dataset_class: AQA-7 class to train on, or ``all``; ignored by the other datasets.
        store: Mask store root (needed unless ``masks`` is ``none``).
        masks: ``gtm`` corrected layer (a video without any correction is an error),
            ``pm`` pseudo layer, ``none`` no mask supervision (L_A off).
        model_preset: ``paper``, ``demo`` or ``tiny`` (see :mod:`fineparser.model.build`).
        model: Overrides of the preset's ModelConfig fields.
        i3d_weights: Kinetics ``model_rgb.pth`` for the I3D (random initialisation when null).
        resnet_weights: torchvision ResNet state dict for the SVE (random initialisation when null).
        recipe: Named training recipe the values started from (``ours`` or ``paper``,
            :mod:`fineparser.recipes`); applied by :func:`load_train_config`.
        epochs: Training epochs.
        batch_size: Pairs per batch and process.
        grad_accum: Batches whose gradients are summed (averaged) before one optimiser step.
        effective_batch_size: Pairs per optimiser step over all processes; when > 0, ``grad_accum``
            is derived from it and the number of processes (it must be a multiple of
            ``batch_size`` x processes), so a run on fewer GPUs takes the same steps.
        eval_batch_size: Query clips per evaluation batch (each paired with M exemplars).
        lr_i3d: Learning rate of the I3D backbone.
        lr_tau: Learning rate of the TAP temperature.
        lr_sve: Learning rate of the SVE ResNet.
        lr_heads: Learning rate of everything else (SAP, TAP, regressor).
        lr_sap: Learning rate of the SAP attention's f_A (3 parameters); null: ``lr_heads``. A
            larger rate lets L_A shape the attention within a short (demo) training.
        weight_decay: Adam weight decay (the paper uses none).
        schedule: ``constant``, ``cosine``, ``step`` or ``timm_cosine`` (module docstring).
        warmup_epochs: Linear warm-up epochs before the schedule.
        min_lr: ``timm_cosine`` floor, one absolute rate for every group (timm's ``lr_min``);
            null: each group's rate times ``min_lr_ratio``.
        warmup_lr_init: ``timm_cosine`` start of the warm-up (absolute); null: the floor.
        sap_warmup_steps: Steps of L_A alone, on the I3D stages up to ``sap_stage`` and f_A,
            before the first epoch (:mod:`fineparser.attention_warmup`); 0: none. Without masks
            (``masks=none``) or without SAP there is nothing to learn and it is skipped.
        lr_sap_warmup: Adam learning rate of those steps.
        head_refit_steps: After the last epoch, steps that train the decoder and the regressor on
            frozen snippet features of the training clips (:mod:`fineparser.head_refit`); 0: none.
        head_refit_batch, head_refit_lr: Pairs per refit step; its Adam rate (cosine to 1%).
        head_warmup_steps: The same refit once before the first epoch (after the attention
            warm-up), on the features of the starting backbone, so that the first epochs'
            gradients reach the backbone through fitted heads; 0: none.
        min_lr_ratio: Cosine floor as a fraction of each group's learning rate.
        step_epochs: Period of the ``step`` schedule.
        step_gamma: Factor of the ``step`` schedule.
        ema_decay: Decay of the exponential moving average of the weights (0 turns EMA off).
        amp: Mixed precision (bfloat16 autocast + fp32 master weights) when training on CUDA;
            ignored on the CPU.
        channels_last: Convolution weights and snippets in the channels-last layout
            (:meth:`~fineparser.model.unifineparser.UniFineParser.to_channels_last`): the same
            model and numbers up to summation order, a faster step on CPUs (oneDNN).
        grad_clip: Maximal gradient norm (0 turns clipping off).
        loss_a: Train with L_A (Table 7 "w/o L_A": false, the same as ``masks=none``).
        loss_t: Train with L_T (Table 7 "w/o L_T": false). Datasets without step transitions
            (MTL-AQA, AQA-7) have no L_T anyway; the run says so once (log and metrics).
        nan_patience: Stop after this many consecutive batches with a non-finite loss or gradient
            (each one is skipped and logged).
        seed: Seed of Python, NumPy and torch, and of the exemplar draws.
        workers: DataLoader worker processes.
        cache_clips: Keep every decoded, resized clip window in memory after its first use
            (about ``F * H * W * 4`` bytes a clip at the resized size); epochs after the first
            decode nothing. Best with ``workers=0``: each worker process keeps its own cache.
        both_orders: Also regress the exemplar given the query in each training pair (paper-notes
            row 16; the FineParser code does both).
        score_scale: Scores are divided by this before the network sees them (exemplar scores
            in, targets of L_E) and predictions multiplied back; 1 keeps the paper's raw scores.
            A scale near the score spread (e.g. 10) gives the regressor outputs of order 1 and
            makes L_E comparable with L_A and L_T (with raw scores L_E is ~100x larger).
        flip: Random horizontal flips while training.
        resize_scale: Frames are resized to ``resize_scale * frame_size`` before the (random
            while training, central while evaluating) crop to the model's frame size.
        val_share: Share of each action type's training clips held out as split ``val``
            (not trained on, never an exemplar), for choosing epochs and settings without
            looking at the test split (0: none).
        eval_split: Split evaluated every ``eval_every`` epochs (``best.pt`` is chosen on it)
            and by default by ``fineparser eval``: ``train``, ``val`` or ``test``.
        eval_every: Epochs between evaluations (the best checkpoint is chosen on these).
        max_steps_per_epoch: Stop an epoch after this many steps (0 = the whole training split);
            for quick trials and benchmarks.
        save_every: Also keep ``epoch_XXXX.pt`` every this many epochs (0: only ``last.pt``,
            written every epoch, and ``best.pt``).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        threads: torch intra-op CPU threads per process (0: torch's default). One thread is often
            faster on a machine shared with other work.
        run_dir: Folder of checkpoints, ``metrics.jsonl`` and ``config.json``.
    """

    dataset: str = "finediving"
    data_root: str = ""
    dataset_class: str = "all"
    store: str | None = None
    masks: str = "gtm"
    model_preset: str = "paper"
    model: dict = field(default_factory=dict)
    i3d_weights: str | None = None
    resnet_weights: str | None = None
    recipe: str = "ours"
    epochs: int = 200
    batch_size: int = 2
    grad_accum: int = 1
    effective_batch_size: int = 0
    eval_batch_size: int = 1
    lr_i3d: float = 1e-4
    lr_tau: float = 1e-4
    lr_sve: float = 1e-3
    lr_heads: float = 1e-3
    lr_sap: float | None = None
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float | None = None
    warmup_lr_init: float | None = None
    sap_warmup_steps: int = 0
    lr_sap_warmup: float = 3e-3
    head_refit_steps: int = 0
    head_refit_batch: int = 32
    head_refit_lr: float = 1e-3
    head_warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    step_epochs: int = 50
    step_gamma: float = 0.1
    ema_decay: float = 0.999
    amp: bool = True
    channels_last: bool = False
    grad_clip: float = 10.0
    loss_a: bool = True
    loss_t: bool = True
    nan_patience: int = 5
    seed: int = 0
    workers: int = 2
    cache_clips: bool = False
    both_orders: bool = False
    score_scale: float = 1.0
    flip: bool = True
    resize_scale: float = 8 / 7
    val_share: float = 0.0
    eval_split: str = "test"
    eval_every: int = 1
    max_steps_per_epoch: int = 0
    save_every: int = 0
    device: str = "auto"
    threads: int = 0
    run_dir: str = "runs/fineparser"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name], "TrainConfig")
            object.__setattr__(self, f.name, value)
        self._validate()

    def _validate(self) -> None:
        def fail(name: str, expected: str) -> None:
            raise ValueError(f"TrainConfig.{name}: expected {expected}, got {getattr(self, name)!r}")

        choices = {"dataset": DATASETS, "masks": MASK_MODES, "schedule": SCHEDULES,
                   "device": DEVICES, "eval_split": ("train", "val", "test")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                fail(name, f"one of {allowed}")
        for name in ("epochs", "batch_size", "eval_batch_size", "head_refit_batch", "nan_patience", "eval_every", "grad_accum"):
            if getattr(self, name) < 1:
                fail(name, "an integer >= 1")
        for name in ("effective_batch_size", "warmup_epochs", "sap_warmup_steps", "head_refit_steps", "head_warmup_steps", "workers", "max_steps_per_epoch", "save_every", "seed", "threads"):
            if getattr(self, name) < 0:
                fail(name, "an integer >= 0")
        if self.effective_batch_size and self.grad_accum != 1:
            fail("grad_accum", "1 when effective_batch_size is set (it is derived from it)")
        from fineparser.recipes import RECIPES

        if self.recipe not in RECIPES:
            fail("recipe", f"one of {sorted(RECIPES)}")
        for name in ("lr_i3d", "lr_tau", "lr_sve", "lr_heads", "lr_sap", "lr_sap_warmup", "head_refit_lr",
                     "min_lr", "warmup_lr_init"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                fail(name, "a learning rate > 0")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                fail(name, "a number >= 0")
        if not 0 <= self.ema_decay < 1:
            fail("ema_decay", "a number in [0, 1)")
        if not 0 <= self.min_lr_ratio <= 1:
            fail("min_lr_ratio", "a number in [0, 1]")
        if self.step_epochs < 1 or not 0 < self.step_gamma <= 1:
            fail("step_gamma" if self.step_epochs >= 1 else "step_epochs",
                 "step_epochs >= 1 and 0 < step_gamma <= 1")
        if not self.score_scale > 0:
            fail("score_scale", "a number > 0")
        if not 0 <= self.val_share < 1:
            fail("val_share", "a number in [0, 1)")
        if self.eval_split == "val" and self.val_share == 0:
            fail("eval_split", "train or test when val_share is 0 (no validation split)")
        if self.resize_scale < 1:
            fail("resize_scale", "a number >= 1 (frames are cropped, never padded)")
        if not self.data_root:
            fail("data_root", "the dataset root folder")
        if self.masks != "none" and not self.store:
            fail("store", f"a mask store folder (masks={self.masks!r} reads masks from it)")
        if self.model_preset not in _model_presets():
            fail("model_preset", f"one of {sorted(_model_presets())}")

    # -- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        from fineparser.config import dataclass_from_dict

        return dataclass_from_dict(cls, data)

    def replace(self, **changes: Any) -> TrainConfig:
        """Copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def model_config(self):
        """The resolved :class:`~fineparser.config.ModelConfig`: the preset plus ``model``."""
        from fineparser.config import ModelConfig

        base = _model_presets()[self.model_preset]()
        if not self.model:
            return base
        merged = base.to_dict()
        merged.update(self.model)
        return ModelConfig.from_dict(merged)

    def resolved_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with ``model`` replaced by the full resolved model configuration."""
        out = self.to_dict()
        out["model"] = self.model_config().to_dict()
        return out


def load_train_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                      base: dict[str, Any] | None = None, **fields: Any) -> TrainConfig:
    """Defaults <- ``base`` <- JSON file ``path`` <- ``fields`` (typed, from command-line options)
    <- ``overrides``.

    Args:
        path: JSON object with TrainConfig keys (a run's ``config.json`` works too).
        base: a configuration dict to start from (a checkpoint's stored configuration).
        overrides: ``"key=value"`` strings; ``model.<field>=value`` changes the model config.
        fields: Values from dedicated command-line options; ``None`` values are ignored.

    Raises:
        ConfigError: unknown key, wrong type or value, unreadable JSON (one line naming it).
    """
    try:
        return _load(path, overrides, base, fields)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{err}") from None


def _load(path, overrides, base, fields) -> TrainConfig:
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        try:
            loaded = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the training configuration ({err})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        data.update(loaded)
    data.update({k: v for k, v in fields.items() if v is not None})
    from fineparser.recipes import with_recipe

    data = with_recipe(data, overrides)
    model = dict(data.get("model") or {})
    hints = typing.get_type_hints(TrainConfig)
    from fineparser.config import ModelConfig

    model_hints = typing.get_type_hints(ModelConfig)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value")
        value = _parse_value(raw)
        if key.startswith("model."):
            name = key[len("model."):]
            if name not in model_hints:
                raise ValueError(f"--set {key}: ModelConfig has no field {name!r}")
            model[name] = _coerce(key, value, model_hints[name], "--set")
        elif key in hints and key != "model":
            data[key] = _coerce(key, value, hints[key], "--set")
        else:
            raise ValueError(f"--set {key}: unknown key (TrainConfig fields, or model.<field>)")
    data["model"] = model
    cfg = TrainConfig.from_dict(data)
    cfg.model_config()  # model overrides are checked now, not at the first epoch
    return cfg


def save_train_config(cfg: TrainConfig, run_dir: str | Path) -> Path:
    """Write the resolved configuration to ``<run_dir>/config.json``; returns the path."""
    path = Path(run_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cfg.resolved_dict(), indent=2, sort_keys=True) + "\n")
    return path


def _model_presets() -> dict:
    from fineparser.model.build import MODEL_PRESETS

    return MODEL_PRESETS


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _coerce(name: str, value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a field type; ints become floats and lists tuples where declared."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0])
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is dict or origin is dict:
        ok = isinstance(value, dict)
    elif origin is tuple or hint is tuple:
        ok = isinstance(value, (list, tuple))
        if ok and args and args[-1] is not Ellipsis:
            ok = len(value) == len(args)
            if ok:
                value = tuple(_coerce(name, v, a, where) for v, a in zip(value, args))
        elif ok:
            value = tuple(value)
    else:
        ok = True
    if not ok:
        shown = getattr(hint, "__name__", str(hint))
        raise ValueError(f"{where} {name}: expected {shown}, got {value!r}")
    return value
