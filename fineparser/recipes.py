"""Training recipes: named sets of :class:`~fineparser.train_config.TrainConfig` values.

``--set recipe=paper`` (or ``"recipe": "paper"`` in a configuration file) starts from the recipe's
values; the file and the other overrides still change any of them, and the resolved
``config.json`` records every value, so a run repeats without the recipe table.

* ``ours`` (the default): the :class:`TrainConfig` defaults, what this project trains with: EMA
  of the weights for every evaluation (decay 0.999), gradient-norm clipping at 10, bfloat16
  autocast on CUDA, cosine decay per epoch over 200 epochs, 2 pairs per step. These are
  stabilisers the paper does not have; they make short and single-GPU runs less noisy.
* ``paper``: what the paper states (Sec. 4.3: Adam, I3D and tau at 1e-4, ResNet-34 and the heads
  at 1e-3, raw scores) and, where it is silent, what the published FineParser code
  (``FineDiving_FineParser.yaml``, ``tools/builder.py``, ``tools/helper.py``) does: no weight
  decay, timm's ``CosineLRScheduler`` stepped per batch over ``max_epoch: 400`` with 5 warm-up
  epochs, ``lr_min`` and ``warmup_lr_init`` both 1e-4 (so the I3D stays at 1e-4 and the heads go
  1e-4 -> 1e-3 -> 1e-4), ``bs_train: 2`` per GPU on 4 GPUs with ``update_iter: 2``, i.e. 16 pairs
  per optimiser step (``effective_batch_size``, reached with gradient accumulation on fewer GPUs),
  both orders of each pair regressed, random flips, no EMA, no clipping, full fp32 precision.
  FineParser sums the two accumulated losses; we average them (Adam is insensitive to the scale).
"""

from __future__ import annotations

from typing import Any

RECIPES: dict[str, dict[str, Any]] = {
    "ours": {},
    "paper": {
        "epochs": 400, "batch_size": 2, "effective_batch_size": 16,
        "lr_i3d": 1e-4, "lr_tau": 1e-4, "lr_sve": 1e-3, "lr_heads": 1e-3, "lr_sap": None,
        "weight_decay": 0.0, "schedule": "timm_cosine", "warmup_epochs": 5, "min_lr": 1e-4,
        "warmup_lr_init": 1e-4, "ema_decay": 0.0, "grad_clip": 0.0, "amp": False,
        "both_orders": True, "score_scale": 1.0, "flip": True, "sap_warmup_steps": 0,
        "loss_a": True, "loss_t": True,
    },
}


def recipe_values(name: str) -> dict[str, Any]:
    """The values of recipe ``name``; ValueError naming the known ones."""
    if name not in RECIPES:
        raise ValueError(f"recipe: expected one of {sorted(RECIPES)}, got {name!r}")
    return dict(RECIPES[name])


def with_recipe(data: dict[str, Any], overrides=()) -> dict[str, Any]:
    """``data`` on top of the values of its recipe (a ``recipe=...`` override wins over ``data``)."""
    name = data.get("recipe", "ours")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if sep and key.strip() == "recipe":
            name = raw.strip().strip('"')
    return {**recipe_values(name), **data}
