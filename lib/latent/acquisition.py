"""Acquisition functions for maximisation: expected improvement (plain and exact log), UCB, Thompson sampling.

Each takes a predictor's ``(mean, variance)`` (or a scale, for EI, whose
arch2vec form uses the variance where the textbook uses the standard
deviation) and returns one score per candidate; higher is better.
:func:`top_indices` picks the best few of a whole pool's scores.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def expected_improvement(mean: np.ndarray, scale: np.ndarray, target: float) -> np.ndarray:
    """``EI = s (φ(u) + u Φ(u))`` with ``u = (mean - target) / s``."""
    scale = np.maximum(scale, 1e-12)
    u = (mean - target) / scale
    return scale * (stats.norm.pdf(u) + u * stats.norm.cdf(u))


def log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 − exp(x))`` for ``x < 0``, accurate on both sides of ``−log 2`` (Mächler, 2012)."""
    x = np.minimum(x, -1e-300)
    with np.errstate(divide="ignore"):  # np.where evaluates both branches; each is used only where it is exact
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(u: np.ndarray) -> np.ndarray:
    """``log(φ(u) + u Φ(u))``, the log of expected improvement at unit scale, accurate for every ``u``.

    BoTorch's ``_log_ei_helper`` (Ament et al., "Unexpected improvements to
    expected improvement", NeurIPS 2023): for ``u > −1`` directly; below,
    ``log φ(u) + log(1 − |u| Φ(u)/φ(u))`` with ``Φ(u)/φ(u) = √(π/2) erfcx(−u/√2)``,
    and the asymptote ``log φ(u) − 2 log|u|`` once ``|u|`` passes ``1/√ε``.
    It is strictly increasing in ``u``.
    """
    u = np.asarray(u, dtype=np.float64)
    upper = np.maximum(u, -1.0)
    lower = np.minimum(u, -1.0)
    log_upper = np.log(stats.norm.pdf(upper) + upper * special.ndtr(upper))
    w = np.log(-lower * special.erfcx(-lower / np.sqrt(2.0))) + 0.5 * np.log(np.pi / 2.0)
    tail = np.where(lower > -1.0 / np.sqrt(np.finfo(float).eps), log1mexp(w), -2.0 * np.log(-lower))
    log_lower = stats.norm.logpdf(lower) + tail
    return np.where(u > -1.0, log_upper, log_lower)


def log_expected_improvement(mean: np.ndarray, scale: np.ndarray, target: float) -> np.ndarray:
    """``log EI``, finite where EI underflows to 0 (far below the target), so candidates stay ranked.

    ``log EI = log s + log h(u)`` with ``u = (mean − target)/s`` (see :func:`log_h`).
    """
    scale = np.maximum(scale, 1e-12)
    return np.log(scale) + log_h((mean - target) / scale)


def upper_confidence_bound(mean: np.ndarray, variance: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """``mean + √(β · variance)`` (GP-UCB, Srinivas et al. 2010; BoTorch's parameterisation)."""
    return np.asarray(mean) + np.sqrt(beta * np.maximum(variance, 0.0))


def thompson_sample(mean: np.ndarray, variance: np.ndarray, rng: np.random.Generator, jitter: float = 1e-9) -> np.ndarray:
    """One independent Gaussian draw per candidate, ``N(mean, (√variance + jitter)²)`` (BANANAS' ITS)."""
    return rng.normal(mean, np.sqrt(variance) + jitter)


def top_indices(score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores' indices, best first, ties by index: ``np.argsort(-score, kind="stable")[:k]``.

    The same indices in the same order (NaN last, as ``argsort`` puts it), but
    only the scores at or above the ``k``-th best are sorted, not the whole pool.
    """
    negated = -np.asarray(score)
    if k >= len(negated) or k < 1:
        return np.argsort(negated, kind="stable")[: max(k, 0)]
    kth = np.partition(negated, k - 1)[k - 1]
    if np.isnan(kth):  # fewer than k numbers: argsort's NaN ordering decides
        return np.argsort(negated, kind="stable")[:k]
    candidates = np.flatnonzero(negated <= kth)  # in index order, so a stable sort keeps ties by index
    return candidates[np.argsort(negated[candidates], kind="stable")][:k]
