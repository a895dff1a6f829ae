"""The Uni-FineParser network (model code only; training lives elsewhere in ``fineparser``).

Public API (what trainers and tools call)::

    from fineparser.model import build_model, get_config, load_backbones
    cfg = get_config("paper")                      # or "demo", "tiny"; ModelConfig in fineparser.config
    model = build_model(cfg)                       # random weights
    load_backbones(model, i3d_path="model_rgb.pth", resnet_path="resnet34.pth")
    out = model(query, exemplar, y_exemplar)       # (B, N, 3, T, H, W) each -> PairOutput
    r = model.regress(x_t_query, x_t_exemplar, y_exemplar)   # step features -> Regression

The modules know tensors only. Multi-exemplar inference (Eq. 10) with cached exemplar features:
:class:`fineparser.predictor.Predictor`; losses and soft labels: :mod:`fineparser.losses`; exemplar
choice: :mod:`fineparser.exemplars`; pictures: :mod:`fineparser.viz`; parameters and FLOPs:
:mod:`fineparser.model.summary`.
"""

from fineparser.model.build import MODEL_PRESETS, build_i3d, build_model, get_config
from fineparser.model.unifineparser import PairOutput, Regression, UniFineParser, VideoFeatures
from fineparser.model.weights import load_backbones, load_i3d_weights, load_resnet_weights

__all__ = ["MODEL_PRESETS", "PairOutput", "Regression", "UniFineParser", "VideoFeatures", "build_i3d",
           "build_model", "get_config", "load_backbones", "load_i3d_weights", "load_resnet_weights"]
