"""Shared library of the latent-space NAS study.

The notebooks tell the story; this package holds everything they reuse:
cells and search spaces (:mod:`lib.cell`, :mod:`lib.spaces`), benchmarks with
counted queries (:mod:`lib.benchmark`), tensor encodings for graph models
(:mod:`lib.encoding`), importers for the official benchmark files
(:mod:`lib.importers`) and result writing (:mod:`lib.results`).
"""

__version__ = "0.1.0"
