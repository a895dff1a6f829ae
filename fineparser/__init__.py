"""fineparser: the Uni-FineParser model (Xu, Yin, Peng) with its trainer, evaluator and predictor."""

__version__ = "0.1.0"
