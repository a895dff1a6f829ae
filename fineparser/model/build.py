"""Builds Uni-FineParser: every architecture constant and the named variants live here.

Variants are plain functions returning a :class:`~fineparser.config.ModelConfig`::

    cfg = get_config("paper")                 # Table 1 exactly; loads model_rgb.pth + resnet34
    cfg = get_config("tiny", sap_stage=3)     # tests: any field can be overridden
    model = build_model(cfg)                  # random weights; see fineparser.model.weights

``paper``: the published setting. ``demo``: CPU demo (8 snippets of 8 frames at 48 x 80, I3D and
ResNet-18 at quarter width, d = 64): about 8 training pairs per second on two CPU cores, but no
pretrained weights fit it. ``tiny``: unit tests (4 snippets, 32 x 32, I3D at 1/8 width, d = 16).
Reduced widths scale every I3D channel count by ``i3d_width`` (rounded, at least 1), so only
``i3d_width = 1.0`` matches the Kinetics checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from fineparser.config import ModelConfig

# Inception-v1 I3D (Carreira & Zisserman), as in the Kinetics model_rgb.pth.
I3D_STEM_CHANNELS = (64, 64, 192)  # conv3d_1a_7x7, conv3d_2b_1x1, conv3d_2c_3x3
I3D_MIXED_CHANNELS = {  # (branch_0, branch_1 1x1, branch_1 3x3, branch_2 1x1, branch_2 3x3, branch_3)
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
# What the paper reports for this model (Sec. 4.3), shown next to our counts by `fineparser info`.
PAPER_PARAMS = 35.94e6
PAPER_GFLOPS = 2444.21


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def build_i3d(width: float = 1.0, bn_eps: float = 1e-3, stage3_end: str = "mixed_4f"):
    """The I3D backbone; ``width=1.0`` is the Kinetics checkpoint layout (C2 = 192, C4 = 1024)."""
    from fineparser.model.i3d import I3D

    stem = tuple(_scaled(c, width) for c in I3D_STEM_CHANNELS)
    mixed = {name: tuple(_scaled(c, width) for c in spec) for name, spec in I3D_MIXED_CHANNELS.items()}
    return I3D(stem, mixed, bn_eps=bn_eps, stage3_end=stage3_end)


def build_model(cfg: ModelConfig):
    """A randomly initialised :class:`~fineparser.model.unifineparser.UniFineParser` for ``cfg``.

    The configuration is kept as ``model.config`` so that trainers can save it beside the weights.
    Load pretrained backbones with :func:`fineparser.model.weights.load_backbones`.
    """
    from fineparser.model.sap import SpatialAttention
    from fineparser.model.sve import StaticVisualEncoder
    from fineparser.model.tap import ContrastiveRegressor, TemporalDecoder
    from fineparser.model.unifineparser import UniFineParser

    if not isinstance(cfg, ModelConfig):
        raise ValueError(f"build_model: expected a ModelConfig, got {type(cfg).__name__}")
    i3d = build_i3d(cfg.i3d_width, cfg.i3d_bn_eps, cfg.i3d_stage3_end)
    sap = SpatialAttention(residual=cfg.sap_residual, prior=cfg.sap_prior) if cfg.sap else None
    sve = (StaticVisualEncoder(cfg.sve_backbone, i3d.out_channels, cfg.sve_width, cfg.frame_size_hw)
           if cfg.sve else None)
    decoder = TemporalDecoder(i3d.out_channels, cfg.query_dim,
                              num_queries=cfg.num_queries if cfg.tap else None,
                              cross_heads=cfg.cross_attention_heads,
                              self_heads=cfg.self_attention_heads,
                              temperature_init=cfg.temperature_init,
                              self_attention=cfg.self_attention)
    model = UniFineParser(i3d, sap, cfg.sap_stage, sve, decoder, ContrastiveRegressor(cfg.query_dim),
                          exemplar_setting=cfg.exemplar_setting)
    model.config = cfg
    return model


def paper() -> ModelConfig:
    """Table 1 and the best row of every ablation (SAP at stage 2, A + 1, Lq = 6, ResNet-34, AN),
    with the input pipeline of the published AQA codes the paper follows: I3D batch-norm eps 1e-5
    (CoRe, TSA and FineParser's I3D copies) and CoRe's resize to (455, 256) before the 224 crop
    (``Resize((455, 256))`` as torch_videovision applies it). The TAP self-attention keeps our
    ``residual_norm`` reading (``--set model.self_attention=plain`` is the paper's literal one).
    """
    return ModelConfig(name="paper", i3d_bn_eps=1e-5, resize_hw=(455, 256))


def demo() -> ModelConfig:
    """Small enough to train on a CPU in the demo; not loadable from pretrained weights.

    8 snippets of 8 frames at 48 x 80 (the synthetic frames' 3:5 aspect, so limbs are not
    squashed), I3D and ResNet-18 at quarter width, d = 64.
    """
    return ModelConfig(name="demo", num_snippets=8, frame_size_hw=(48, 80), i3d_width=0.25,
                       sve_backbone="resnet18", sve_width=0.25, query_dim=64,
                       self_attention_heads=4, num_exemplars=3)


def tiny() -> ModelConfig:
    """For unit tests: a forward/backward pass of a pair takes well under a second on one core."""
    return ModelConfig(name="tiny", num_snippets=4, frame_size_hw=(32, 32), i3d_width=0.125,
                       sve_backbone="resnet18", num_queries=3, query_dim=16,
                       self_attention_heads=2, num_exemplars=2)


MODEL_PRESETS: dict[str, Callable[[], ModelConfig]] = {"paper": paper, "demo": demo, "tiny": tiny}


def get_config(preset: str, **overrides) -> ModelConfig:
    """The named preset with some fields overridden, e.g. ``get_config("paper", num_queries=9)``."""
    if preset not in MODEL_PRESETS:
        raise ValueError(f"model preset: expected one of {sorted(MODEL_PRESETS)}, got {preset!r}")
    cfg = MODEL_PRESETS[preset]()
    return cfg.replace(**overrides) if overrides else cfg
