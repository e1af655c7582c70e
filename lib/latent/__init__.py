"""The latent-model layer every latent-space NAS method builds on.

* :mod:`~lib.latent.encoders` — dense GIN (PyG's ``DenseGINConv``) and GCN graph encoders;
* :mod:`~lib.latent.decoders` — operation read-out and inner-product edge decoder;
* :mod:`~lib.latent.vae` — the graph VAE and its loss (reconstruction + KL);
* :mod:`~lib.latent.train` — a seeded :func:`~lib.latent.train.fit` and the
  checkpoint cache (:func:`~lib.latent.train.train_cached`, model identity);
* :mod:`~lib.latent.decode` — decoder outputs → cells (pruned, validated) and
  latent points → measured, unqueried cells (:class:`~lib.latent.decode.PoolSnapper`);
* :mod:`~lib.latent.predictors` — ``fit(x, y)`` / ``predict(x) → (mean, variance)``:
  DNGO, BANANAS' MLP ensemble, a GP, a supervised GIN;
* :mod:`~lib.latent.acquisition` — EI, exact log-EI, UCB, Thompson sampling.

A method is a package ``lib/<method>/`` with a configuration of its paper's
settings and a ``search`` module registering its search methods
(:func:`lib.search.register_method`), found by name without being listed
anywhere (see :mod:`lib.search.registry`). Submodules are imported on use.
"""
