"""AG-Net (Lukasik, Jung & Keuper, ECCV 2022): a generator retrained on rank-weighted queried cells.

:mod:`lib.agnet.config` holds the per-space settings, :mod:`lib.agnet.model`
the cached pretraining, the rank weights and the retraining step, and
:mod:`lib.agnet.search` the registered search method ``agnet``. The models
themselves are :mod:`lib.latent.generators`.
"""
