"""Pseudo-mask generation: prompts or person detection -> box tracker -> box segmenter -> quality.

Backends, picked by name from the registries of ``backends.py`` (``TRACKERS``, ``SEGMENTERS``,
``DETECTORS``) and built against the interfaces of ``base.py``:

* trackers: OSTrack (``ostrack/``, re-implemented to load the official checkpoints), OpenCV MIL and
  mask propagation (``trackers.py``);
* segmenters: SAM (``sam.py``, through ``segment-anything``) or the classical GrabCut segmenter
  (``classical.py``, its pixel operations in ``classical_ops.py``, its background model in
  ``background.py``);
* detector: OpenCV's HOG people detector (``detector.py``).

``offline.py`` re-exports the weight-free backends under their old import path.

The run: ``settings.py`` (:class:`PseudoMaskSettings`, the settings hash), ``inputs.py`` (videos,
sharding, device), ``video_loop.py`` (one video through the backends), ``report.py`` (outcomes and
the summary), ``pipeline.py`` (the run over many videos and the store writes; the public API).
``quality.py`` computes the per-frame review signals; ``prompts.py`` reads start boxes.
"""
