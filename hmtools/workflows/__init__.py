"""Workflows that write (or read through) the mask store; the converters they use sit in :mod:`hmtools.formats`.

* :mod:`~hmtools.workflows.finediving_hm`: ``hmtools import-hm`` / ``export-hm``, FineDiving-HM
  mask folders into and out of the store;
* :mod:`~hmtools.workflows.cvat_export` / :mod:`~hmtools.workflows.cvat_import`: the CVAT round
  trip (``hmtools export-cvat`` / ``import-cvat``).

The other store workflows live with their subject: the review queue (:mod:`hmtools.review`), the
web editor (:mod:`hmtools.web`), pseudo-mask generation (:mod:`hmtools.pseudo`) and the index
(:mod:`hmtools.store.index`).

Convention: a library function that works on a store takes an opened
:class:`~hmtools.store.MaskStore` as its first argument, named ``store``; turning a ``--store``
path into one (``MaskStore.open``) is the command line's job. Corrections are built with
:meth:`~hmtools.store.VideoDoc.make_correction`, so every workflow records the same status for the
same decision.
"""
