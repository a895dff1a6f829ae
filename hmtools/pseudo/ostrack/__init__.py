"""OSTrack (Ye et al., ECCV 2022) in plain PyTorch: ViT-B with candidate elimination + centre head.

``config.py`` holds the configurations (``vitb_256``, ``vitb_384`` and a ``tiny`` test variant;
no torch), ``build.py`` composes the network, ``weights.py`` loads the official
``OSTrack_ep0300.pth.tar`` strictly, ``tracker.py`` runs the crop / Hann window / map-back tracking
loop for several objects at once.
"""
