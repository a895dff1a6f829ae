"""Size of a configuration: parameters per component and FLOPs of one query-exemplar pair.

The model is built on torch's ``meta`` device (no memory, no arithmetic), so even the paper preset
is summarised in a second or two. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``,
which counts 2 FLOPs per multiply-add of convolutions and matrix products (element-wise ops,
pooling and normalisation are not counted). The paper's "2444.21 GFLOPs" does not say which
convention it uses, so both FLOPs and multiply-adds (MACs = FLOPs / 2) are reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from fineparser.config import ModelConfig


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
    """

    preset: str
    params_total: int
    params_by_component: dict[str, int]
    flops: int | None
    input_shape: tuple[int, ...]
    paper_params: float = field(default=0.0)
    paper_gflops: float = field(default=0.0)

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
    return ModelSummary(preset=cfg.name, params_total=sum(by_component.values()),
                        params_by_component=by_component, flops=flops, input_shape=shape,
                        paper_params=PAPER_PARAMS, paper_gflops=PAPER_GFLOPS)
