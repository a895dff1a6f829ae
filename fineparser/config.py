"""Configuration of the Uni-FineParser model (paper Sec. 3, Table 1), saved beside every checkpoint.

:class:`ModelConfig` holds every architecture switch of the paper's ablations (Tables 5-13) and the
preprocessing constants that travel with the weights (frame size, mean/std, N, T, stride). It is a
frozen dataclass that validates itself and round-trips through a JSON-able dict::

    cfg = ModelConfig(num_queries=9)            # Table 5, Lq = 9
    cfg2 = ModelConfig.from_dict(cfg.to_dict())  # what the trainer writes into a run folder
    cfg2 == cfg                                  # True

Named variants (``paper``, ``demo``, ``tiny``) live in :mod:`fineparser.model.build`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SVE_BACKBONES = ("resnet18", "resnet34", "resnet50", "vit_small_patch16_224")
I3D_STAGE3_ENDS = ("mixed_4f", "mixed_3c")
SELF_ATTENTION_KINDS = ("residual_norm", "plain")
SOFT_LABEL_CENTRES = ("left", "middle", "right")
EXEMPLAR_SETTINGS = ("AN", "DD")
SAP_LOSSES = ("l1", "l2")
SAP_STAGES = (1, 2, 3)


def dataclass_from_dict(cls, data: Any):
    """``cls(**data)`` for a dataclass, with one clear ValueError for a non-dict or unknown keys."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s), no such field {unknown}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Every switch of Uni-FineParser; defaults are the paper's setting (Table 1, best ablations).

    The ``paper`` preset also sets what the published AQA codes did and the paper does not say
    (``i3d_bn_eps=1e-5``, ``resize_hw=(455, 256)``); the defaults keep 1e-3 and the square
    resize, which the ``demo`` and ``tiny`` presets were measured with.

    Attributes:
        name: Preset the configuration came from (informative only).
        num_snippets: N, snippets per video (Table 13: 9, 12, 15, 20).
        snippet_frames: T (the paper's beta), frames per snippet.
        snippet_stride: alpha, frames between the first frames of consecutive snippets.
        frame_size_hw: Input frame size (H, W) in pixels.
        pixel_mean: RGB mean of frames scaled to [0, 1] (ImageNet, as in CoRe/TSA/FineParser).
        pixel_std: RGB standard deviation, same convention.
        resize_hw: (H, W) every frame is resized to before the (random / central) crop to
            ``frame_size_hw``; None: ``TrainConfig.resize_scale`` times the frame size (a square
            256 x 256 at 224). The published codes: CoRe's ``Resize((455, 256))`` as
            torch_videovision runs it on PIL frames gives (455, 256), 455 high and 256 wide (its
            docstring's "(width, height)" would be (256, 455)); TSA's and FineParser's
            ``Resize((200, 112))`` gives (200, 112) before their 112 crop. See README "Ablations".
        i3d_width: Channel multiplier of the I3D; 1.0 is the Kinetics ``model_rgb.pth`` layout,
            smaller values are only for tests and the CPU demo (no pretrained weights exist).
        i3d_bn_eps: Batch-norm epsilon of the I3D: 1e-3 (TensorFlow, hassony2's port) or 1e-5 (the
            copies in CoRe, TSA and FineParser, behind the paper's numbers).
        i3d_stage3_end: Last block of I3D stage 3 (Table 9): ``mixed_4f`` or ``mixed_3c``
            (where the FineParser segmenter taps it); see :mod:`fineparser.model.i3d`.
        sap: Spatial action parsing on/off (Table 6).
        sap_stage: I3D stage after which the mask-guided attention sits (Table 9: 1, 2, 3).
        sap_residual: True multiplies features by (A + 1), False by A (Table 10).
        sap_loss: Distance of Eq. 4: "l1" (|A - M_gt|) or "l2" (squared).
        sap_prior: Attention A at initialisation, the bias of f_A being ``logit(sap_prior)``
            (the paper does not say). Athletes cover a few percent of a frame; starting near that
            share keeps the sigmoid out of saturation, so L_A shapes *where* A is high from the
            first steps instead of spending them pulling A down from 0.5 everywhere.
        sve: Static visual encoding on/off (Table 6).
        sve_backbone: SVE backbone (Table 8): a torchvision ResNet, or ``vit_small_patch16_224``
            (ViT-S/16 in timm's layout, :mod:`fineparser.model.vit`).
        sve_width: Channel multiplier of the SVE ResNet; 1.0 is the torchvision layout, smaller
            values are only for tests and the CPU demo (like ``i3d_width``).
        tap: Temporal action parsing on/off (Table 6). Off: the decoder's queries are the N
            snippet features, so there are N score differences and no soft-label supervision.
        num_queries: Lq, learnable step queries (Table 5).
        query_dim: Cq, width of the queries and of every attention projection (d = Cq).
        cross_attention_heads: Heads of the first and second cross-attention, (A1, A2) (Table 10).
        self_attention_heads: Heads of the self-attention between the two cross-attentions.
        self_attention: ``residual_norm``: X2 = LayerNorm(X1 + MHSA(X1)) (ours, also in the
            paper preset); ``plain``: the paper's literal X2 = MHSA(X1).
        temperature_init: Initial learnable temperature tau (0.07 x 256).
        soft_label_centre: Frame of a snippet that represents it in the soft labels (Table 11).
        soft_label_sigma: Standard deviation of the soft labels, in snippets.
        exemplar_setting: "AN" regresses the score directly; "DD" regresses score / difficulty
            and multiplies back (Table 12). Exemplar choice itself: :mod:`fineparser.exemplars`.
        num_exemplars: M, exemplars averaged at inference (Eq. 10).
    """

    name: str = "paper"
    num_snippets: int = 20
    snippet_frames: int = 8
    snippet_stride: int = 5
    frame_size_hw: tuple[int, int] = (224, 224)
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    resize_hw: tuple[int, int] | None = None
    i3d_width: float = 1.0
    i3d_bn_eps: float = 1e-3
    i3d_stage3_end: str = "mixed_4f"
    sap: bool = True
    sap_stage: int = 2
    sap_residual: bool = True
    sap_loss: str = "l1"
    sap_prior: float = 0.05
    sve: bool = True
    sve_backbone: str = "resnet34"
    sve_width: float = 1.0
    tap: bool = True
    num_queries: int = 6
    query_dim: int = 256
    cross_attention_heads: tuple[int, int] = (1, 1)
    self_attention_heads: int = 8
    self_attention: str = "residual_norm"
    temperature_init: float = 0.07 * 256
    soft_label_centre: str = "middle"
    soft_label_sigma: float = 1.3
    exemplar_setting: str = "AN"
    num_exemplars: int = 10

    def __post_init__(self) -> None:
        for name in ("frame_size_hw", "pixel_mean", "pixel_std", "cross_attention_heads", "resize_hw"):
            value = getattr(self, name)
            if isinstance(value, list):  # JSON gives lists; keep the dataclass hashable
                object.__setattr__(self, name, tuple(value))
        self._validate()

    @property
    def num_frames(self) -> int:
        """Frames per video covered by the snippets: stride * (N - 1) + T (103 in the paper)."""
        return self.snippet_stride * (self.num_snippets - 1) + self.snippet_frames

    @property
    def num_steps(self) -> int:
        """Number of score differences Delta: Lq with TAP, N without."""
        return self.num_queries if self.tap else self.num_snippets

    def replace(self, **changes: Any) -> ModelConfig:
        """Copy with some fields changed (validated), e.g. ``cfg.replace(sap_stage=3)``."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"ModelConfig: unknown field(s) {unknown}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        return dataclass_from_dict(cls, data)

    def _validate(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ValueError(f"ModelConfig.{field}: expected {expected}, got {getattr(self, field)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        for field in ("num_snippets", "snippet_stride", "num_queries", "query_dim",
                      "self_attention_heads", "num_exemplars"):
            if not is_int(getattr(self, field)) or getattr(self, field) < 1:
                fail(field, "a positive integer")
        if not is_int(self.snippet_frames) or self.snippet_frames < 2 or self.snippet_frames % 2:
            fail("snippet_frames", "an even integer >= 2 (SVE takes frames T/2 and T/2 + 1)")
        if (self.sap_stage == 3 and self.i3d_stage3_end == "mixed_4f"
                and self.snippet_frames % -(-self.snippet_frames // 4)):
            fail("snippet_frames", "a multiple of the stage-3 time steps (e.g. 4, 8, 12) for sap_stage=3")
        size = self.frame_size_hw
        if len(size) != 2 or not all(is_int(v) and v >= 32 and v % 16 == 0 for v in size):
            fail("frame_size_hw", "(H, W), each a multiple of 16 and >= 32")
        if self.resize_hw is not None and (
                len(self.resize_hw) != 2 or not all(is_int(v) for v in self.resize_hw)
                or any(r < s for r, s in zip(self.resize_hw, size))):
            fail("resize_hw", f"null or (H, W) integers, each >= frame_size_hw {tuple(size)}")
        if not is_num(self.i3d_bn_eps) or not 0 < self.i3d_bn_eps < 1:
            fail("i3d_bn_eps", "a number in (0, 1), e.g. 1e-3 or 1e-5")
        if self.i3d_stage3_end not in I3D_STAGE3_ENDS:
            fail("i3d_stage3_end", f"one of {I3D_STAGE3_ENDS}")
        if self.self_attention not in SELF_ATTENTION_KINDS:
            fail("self_attention", f"one of {SELF_ATTENTION_KINDS}")
        for field in ("pixel_mean", "pixel_std"):
            v = getattr(self, field)
            if len(v) != 3 or not all(is_num(x) for x in v) or (field == "pixel_std" and min(v) <= 0):
                fail(field, "three numbers (RGB" + (", all > 0)" if field == "pixel_std" else ")"))
        for field in ("i3d_width", "sve_width"):
            if not is_num(getattr(self, field)) or not 0 < getattr(self, field) <= 1:
                fail(field, "a number in (0, 1]")
        for field in ("sap", "sap_residual", "sve", "tap"):
            if not isinstance(getattr(self, field), bool):
                fail(field, "true or false")
        if self.sap_stage not in SAP_STAGES or isinstance(self.sap_stage, bool):
            fail("sap_stage", f"one of {SAP_STAGES}")
        if not is_num(self.sap_prior) or not 0 < self.sap_prior < 1:
            fail("sap_prior", "a number in (0, 1)")
        if self.sap_loss not in SAP_LOSSES:
            fail("sap_loss", f"one of {SAP_LOSSES}")
        if self.sve_backbone not in SVE_BACKBONES:
            fail("sve_backbone", f"one of {SVE_BACKBONES}")
        heads = self.cross_attention_heads
        if len(heads) != 2 or not all(is_int(h) and h >= 1 and self.query_dim % h == 0 for h in heads):
            fail("cross_attention_heads", f"two head counts dividing query_dim={self.query_dim}")
        if self.query_dim % self.self_attention_heads:
            fail("self_attention_heads", f"a divisor of query_dim={self.query_dim}")
        if not is_num(self.temperature_init) or self.temperature_init <= 0:
            fail("temperature_init", "a number > 0")
        if self.soft_label_centre not in SOFT_LABEL_CENTRES:
            fail("soft_label_centre", f"one of {SOFT_LABEL_CENTRES}")
        if not is_num(self.soft_label_sigma) or self.soft_label_sigma <= 0:
            fail("soft_label_sigma", "a number > 0")
        if self.exemplar_setting not in EXEMPLAR_SETTINGS:
            fail("exemplar_setting", f"one of {EXEMPLAR_SETTINGS}")
        if not isinstance(self.name, str) or not self.name:
            fail("name", "a non-empty string")
