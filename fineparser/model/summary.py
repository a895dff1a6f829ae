"""Size of a configuration: parameters per component and FLOPs of one query-exemplar pair.

The model is built on torch's ``meta`` device (no memory, no arithmetic), so even the paper preset
is summarised in a second or two. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``,
which counts 2 FLOPs per multiply-add of convolutions and matrix products (element-wise ops,
pooling and normalisation are not counted). The paper's "2444.21 GFLOPs" does not say which
convention it uses, so both FLOPs and multiply-adds (MACs = FLOPs / 2) are reported.

Parameters are counted two ways (:data:`PARAM_CONVENTIONS`): ``without_classifier`` is what the
model has (the SVE backbone without its ImageNet classifier); ``with_classifier`` adds the
classifier the pretrained backbone file carries (ResNet-34 ``fc``: 512 x 1000 + 1000 = 513,000),
the convention that reproduces the paper's 51.76 M for FineParser exactly. At the paper setting
they give 35.26 M and 35.77 M against the paper's 35.94 M; the remaining ~0.17 M is not explained
by any reading we know (an output projection on each cross-attention would add 131,072, a
feed-forward block in TAP about 0.26 M; the paper describes neither).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from fineparser.config import ModelConfig


PARAM_CONVENTIONS = {
    "without_classifier": "the trainable model: SVE backbone without its ImageNet classifier",
    "with_classifier": "plus the SVE backbone's classifier as in its weights file (ResNet fc, ViT head); "
                       "the convention that gives the paper's 51.76 M for FineParser",
}


def sve_classifier_params(cfg: ModelConfig, classes: int = 1000) -> int:
    """Parameters of the ImageNet classifier the SVE backbone drops (0 without SVE)."""
    if not cfg.sve:
        return 0
    if cfg.sve_backbone.startswith("vit"):
        from fineparser.model.vit import VIT_SMALL

        features = VIT_SMALL["dim"]
    else:
        from fineparser.model.sve import RESNET_FEATURE_DIMS

        features = RESNET_FEATURE_DIMS[cfg.sve_backbone]
    return features * classes + classes if cfg.sve_width == 1.0 else 0


@dataclass(frozen=True)
class ModelSummary:
    """Parameter and FLOP counts of one configuration.

    Attributes:
        preset: Configuration name.
        params_total: All trainable parameters.
        params_by_component: i3d, sap, sve, tap (with tau), regressor.
        flops: FLOPs of one forward pass of a pair (batch 1), torch's convention (2 per MAC);
            None when not counted.
        input_shape: Shape of one video, (1, N, 3, T, H, W).
        paper_params: 35.94e6, reported in Sec. 4.3.
        paper_gflops: 2444.21, reported in Sec. 4.3.
        params_by_convention: ``without_classifier`` (= params_total) and ``with_classifier``
            (:data:`PARAM_CONVENTIONS`).
        i3d_bn_eps: Batch-norm epsilon of the I3D.
    """

    preset: str
    params_total: int
    params_by_component: dict[str, int]
    flops: int | None
    input_shape: tuple[int, ...]
    paper_params: float = field(default=0.0)
    paper_gflops: float = field(default=0.0)
    params_by_convention: dict[str, int] = field(default_factory=dict)
    i3d_bn_eps: float = 1e-3

    @property
    def params_vs_paper(self) -> float:
        """Relative difference to the paper's parameter count (e.g. -0.019 = 1.9 % fewer)."""
        return self.params_total / self.paper_params - 1.0

    def to_dict(self) -> dict:
        """JSON-serialisable dict, with GFLOPs and GMACs added."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["gflops"] = None if self.flops is None else self.flops / 1e9
        data["gmacs"] = None if self.flops is None else self.flops / 2e9
        data["params_vs_paper"] = self.params_vs_paper
        data["param_conventions"] = dict(PARAM_CONVENTIONS)
        return data


def summarize_model(cfg: ModelConfig, count_flops: bool = True) -> ModelSummary:
    """Count parameters (per component) and, optionally, FLOPs of one pair for ``cfg``.

    Example:
        >>> s = summarize_model(get_config("paper"))
        >>> round(s.params_total / 1e6, 2), round(s.flops / 1e9)       # (35.26, ...)
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fineparser.model.build import PAPER_GFLOPS, PAPER_PARAMS, build_model

    with torch.device("meta"):
        model = build_model(cfg).eval()
    groups = model.parameter_groups()
    groups["tap"] = groups["tap"] + groups.pop("temperature")
    by_component = {name: sum(p.numel() for p in params) for name, params in groups.items()}
    shape = (1, cfg.num_snippets, 3, cfg.snippet_frames, *cfg.frame_size_hw)
    flops = None
    if count_flops:
        video = torch.empty(shape, device="meta")
        # Frozen parameters rather than no_grad(): the counter's module tracker needs one or the other
        # and fails on parameters that require grad inside no_grad().
        model.requires_grad_(False)
        with FlopCounterMode(display=False) as counter:
            model(video, video, torch.zeros(1, device="meta"),
                  torch.ones(1, device="meta"), torch.ones(1, device="meta"))
        flops = int(counter.get_total_flops())
    total = sum(by_component.values())
    conventions = {"without_classifier": total, "with_classifier": total + sve_classifier_params(cfg)}
    return ModelSummary(preset=cfg.name, params_total=total, params_by_component=by_component,
                        flops=flops, input_shape=shape, paper_params=PAPER_PARAMS,
                        paper_gflops=PAPER_GFLOPS, params_by_convention=conventions,
                        i3d_bn_eps=cfg.i3d_bn_eps)
