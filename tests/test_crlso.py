"""CR-LSO: the ICNN is convex by construction, the step descends it, labels are queries, invalid decodings are counted.

Tiny configurations on a stand-in oracle (300 NB201 cells, synthetic accuracy);
the protocol checks every registered method must pass (test column never seen,
anytime, units, beats random on the additive fixture) run in tests/test_protocol.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from lib.crlso import model as crlso_model
from lib.crlso import search as crlso_search
from lib.crlso.config import default_config
from lib.encoding import encode_dense
from lib.errors import BudgetExhaustedError
from lib.latent.icnn import ICNN, MLPHead, clamping, jensen_gaps
from lib.latent.train import fit
from lib.spaces import NB201Space

TINY = dict(warm_epochs=1, joint_epochs=1, hidden_dim=16, latent_dim=4, head_hidden=16)
FAST = dict(TINY, init_size=12, labeller_epochs=10, finetune_epochs=5, top_k=4)


def _wiggly(z):
    return torch.sin(3 * z).sum(-1) + 0.3 * (z**2).sum(-1)


def _train(net, epochs=30, seed=0):
    torch.manual_seed(seed)
    z = torch.randn(256, 4)
    y = _wiggly(z)
    return fit(net, (z, y), lambda m, a, b: (torch.nn.functional.mse_loss(m(a), b), {}), epochs=epochs,
               batch_size=32, lr=1e-2, seed=seed, device="cpu")[0]  # fmt: skip


def test_icnn_weights_are_non_negative_and_jensen_gaps_non_negative_at_init():
    torch.manual_seed(0)
    net = ICNN(4, 32, 4)
    assert all((w >= 0).all() for w in net.constrained())
    gaps = jensen_gaps(net, torch.randn(100, 4) * 3, generator=torch.Generator().manual_seed(0))
    assert gaps.shape == (200, 9) and gaps.min() >= -1e-5


def test_clamp_runs_after_every_optimiser_step_and_keeps_the_trained_icnn_convex():
    torch.manual_seed(0)
    net = ICNN(4, 32, 4)
    negatives = []

    def check(optimizer, args, kwargs):  # registered after clamping's hook: sees the clamped weights
        negatives.append(min(float(w.detach().min()) for w in net.constrained()))

    with clamping(net):
        handle = register_optimizer_step_post_hook(check)
        try:
            _train(net)
        finally:
            handle.remove()
    assert len(negatives) == 30 * 8 and min(negatives) >= 0.0
    gaps = jensen_gaps(net, torch.randn(100, 4) * 2, generator=torch.Generator().manual_seed(1))
    assert gaps.min() >= -1e-4 * gaps.abs().max()
    # the same training without the clamp leaves negative weights: the clamp is what makes it convex
    torch.manual_seed(0)
    free = _train(ICNN(4, 32, 4))
    assert min(float(w.min()) for w in free.constrained()) < 0


def test_a_trained_mlp_head_is_not_convex():
    torch.manual_seed(0)
    mlp = _train(MLPHead(4, 32, 4), epochs=60)
    gaps = jensen_gaps(mlp, torch.randn(100, 4) * 2, generator=torch.Generator().manual_seed(1))
    assert gaps.min() < -1e-2  # the Jensen-gap check can fail: a non-convex fit shows negative gaps


def test_descent_lowers_the_predicted_error_and_the_public_step_raises_it():
    torch.manual_seed(0)
    net = ICNN(4, 16, 3)
    z = torch.randn(32, 4)
    before = net(z)
    assert (net(crlso_model.descend(net, z, 1e-2)) < before).all()
    assert (net(crlso_model.descend(net, z, 1e-2, "public")) > before).all()
    with pytest.raises(ValueError, match="step_sign"):
        crlso_model.descend(net, z, 0.1, "up")


def test_config_defaults_and_full_schedule():
    nb201, nb101 = default_config("nb201"), default_config("nb101")
    assert (nb201.hidden_dim, nb201.latent_dim, nb201.beta, nb201.head_hidden) == (256, 16, 0.005, 128)
    assert (nb101.hidden_dim, nb101.latent_dim, nb101.beta, nb101.head_hidden) == (512, 64, 0.1, 256)
    assert nb201.lr == 1e-4 and nb201.adam_betas == (0.0, 0.5) and nb201.grad_clip == 5.0 and nb201.num_layers == 3
    full = default_config("nb201", "full")
    assert (full.warm_epochs, full.joint_epochs) == (0, 200)
    assert default_config("nb201", joint_epochs=4).warm_identity() == nb201.warm_identity()
    assert default_config("nb201", warm_epochs=4).warm_identity() != nb201.warm_identity()
    with pytest.raises(ValueError, match="unknown CR-LSO setting"):
        default_config("nb201", width=3)
    with pytest.raises(ValueError, match="schedule"):
        default_config("nb201", "fast")


class _StandIn:
    """The harness's oracle interface over 300 NB201 cells with an additive synthetic accuracy (percent)."""

    def __init__(self, budget, seed=1):
        self.space = NB201Space()
        rng = np.random.default_rng(seed)
        self._pool = tuple(self.space.sample(rng) for _ in range(300))
        weights = dict(zip(self.space.operations, [0.0, 5.0, 10.0, 20.0, 2.0]))
        self._acc = {self.space.key(c): 50 + sum(weights.get(op, 0.0) for op in c.ops) / 3 for c in self._pool}
        self.budget, self.benchmark_name, self.dataset = budget, "standin", "synthetic"
        self.queried: list[str] = []

    @property
    def remaining(self):
        return self.budget - len(self.queried)

    def pool(self):
        return self._pool

    def pool_digest(self):
        return f"standin-{id(self)}"

    def query(self, cell):
        key = self.space.key(cell)
        if key not in self._acc:
            raise AssertionError("queried a cell outside the pool")
        if key not in self.queried:
            if self.remaining <= 0:
                raise BudgetExhaustedError("spent")
            self.queried.append(key)
        return {"val_acc": self._acc[key]}


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """A stand-in oracle factory; warm starts train on the stand-in's cells into a temporary cache."""
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    original = crlso_search.warm_start

    def factory(budget, seed=1):
        oracle = _StandIn(budget, seed)
        data = encode_dense(oracle.space, oracle.pool())
        monkeypatch.setattr(crlso_search, "warm_start", lambda config: original(config, data=data))
        return oracle

    return factory


def _run(oracle, seed=0, **hp):
    method = crlso_search.CRLSO(**{**FAST, **hp})
    torch.manual_seed(seed)
    method.search(oracle, np.random.default_rng(seed))
    return method


def test_spends_exactly_the_budget_and_is_deterministic(standin):
    a, b = standin(30), standin(30)
    counts = _run(a).counts
    _run(b)
    assert len(a.queried) == len(set(a.queried)) == 30 and a.queried == b.queried
    assert sum(counts[k] for k in ("decoded", "snapped", "fallback")) == 30 - FAST["init_size"]


def test_the_pseudo_labeller_sees_only_queried_labels(standin, monkeypatch):
    seen = []
    real = crlso_search.GINPredictor

    class Spy(real):
        def fit(self, x, y):
            seen.append((x[0].clone(), x[1].clone(), np.array(y)))
            return super().fit(x, y)

    monkeypatch.setattr(crlso_search, "GINPredictor", Spy)
    oracle = standin(20)
    _run(oracle)
    assert len(seen) == 1
    ops, adj, y = seen[0]
    queried = [c for c in oracle.pool() if oracle.space.key(c) in oracle.queried[: FAST["init_size"]]]
    assert len(y) == FAST["init_size"] == len(ops)
    by_key = {oracle.space.key(c): c for c in oracle.pool()}
    q_ops, q_adj = encode_dense(oracle.space, [by_key[k] for k in oracle.queried[: FAST["init_size"]]])
    assert torch.equal(ops, q_ops) and torch.equal(adj, q_adj) and len(queried) == FAST["init_size"]
    assert np.allclose(y, [oracle._acc[k] / 100.0 for k in oracle.queried[: FAST["init_size"]]])


def test_invalid_decodings_are_counted_never_queried(standin, monkeypatch):
    monkeypatch.setattr(crlso_search, "decode", lambda space, vae, z: [None] * len(z))
    oracle = standin(20)
    counts = _run(oracle, max_tries=3).counts
    assert counts["invalid"] == 3 * (20 - FAST["init_size"]) and counts["fallback"] == 20 - FAST["init_size"]
    assert len(set(oracle.queried)) == 20  # never stalls: every point still led to a new pool cell


def test_cells_outside_the_pool_are_snapped_to_unqueried_pool_cells(standin, monkeypatch):
    outside = NB201Space().sample(np.random.default_rng(99))
    oracle = standin(20)
    assert oracle.space.key(outside) not in oracle._acc
    monkeypatch.setattr(crlso_search, "decode", lambda space, vae, z: [outside] * len(z))
    counts = _run(oracle).counts
    assert counts["unmeasured"] == counts["snapped"] == 20 - FAST["init_size"] and len(set(oracle.queried)) == 20


def test_bad_hyperparameters_are_refused():
    for bad in ({"step_sign": "up"}, {"head": "gp"}, {"init_size": 1}, {"schedule": "quick"}):
        with pytest.raises(ValueError):
            crlso_search.CRLSO(**bad)


def test_beats_random_at_a_small_budget(standin):
    """Mean best accuracy over 3 seeds at 40 queries (12 random + 28 searched) against 40 random queries."""
    ours, rand = [], []
    for seed in range(3):
        oracle = standin(40, seed=seed + 1)
        _run(oracle, seed=seed, init_size=12, labeller_epochs=50, finetune_epochs=20)
        ours.append(max(oracle._acc[k] for k in oracle.queried))
        pool = oracle.pool()
        picks = np.random.default_rng(seed).permutation(len(pool))[:40]
        rand.append(max(oracle._acc[oracle.space.key(pool[i])] for i in picks))
    best = [max(standin(1, seed=s + 1)._acc.values()) for s in range(3)]
    regret_ours = np.mean(np.subtract(best, ours))
    regret_rand = np.mean(np.subtract(best, rand))
    assert regret_ours < regret_rand, f"crlso regret {regret_ours:.2f} vs random {regret_rand:.2f}"
