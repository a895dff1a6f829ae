"""Pseudo-mask generation: prompts or person detection -> box tracker -> box segmenter -> quality.

Backends: OSTrack (``ostrack/``, re-implemented to load the official checkpoints) or an OpenCV
tracker (``offline.py``) for boxes; SAM (``sam.py``, through ``segment-anything``) or a classical
GrabCut segmenter (``offline.py``) for masks. ``pipeline.py`` runs them per video and writes the
``pseudo`` layer of the mask store; ``quality.py`` computes the per-frame review signals.
"""
