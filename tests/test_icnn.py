"""The ICNN of :mod:`lib.latent.icnn`: convex by construction, kept convex by training, measured by Jensen gaps.

Every test runs on tiny nets in a few seconds on one CPU core.
"""

from __future__ import annotations

import pytest
import torch

from torch.optim.optimizer import register_optimizer_step_post_hook

from lib.latent.icnn import ICNN, MLPHead, clamping, jensen_gaps
from lib.latent.train import fit

TOL = 1e-9  # float64 round-off


def _points(n=64, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2


def _nonconvex_data(n=256, d=3, seed=1):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    return z, torch.sin(3 * z[:, 0]) * torch.cos(2 * z[:, 1])


def _mse(net, z, y):
    return torch.nn.functional.mse_loss(net(z), y), {}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_icnn_is_convex_and_an_mlp_is_not(seed):
    torch.manual_seed(seed)
    icnn = ICNN(3, 32, 4).double()
    assert all((w >= 0).all() for w in icnn.constrained())
    gaps = jensen_gaps(icnn, _points(seed=seed), num_chords=300, generator=torch.Generator().manual_seed(seed))
    assert gaps.shape == (300, 9)
    assert gaps.min() >= -TOL
    torch.manual_seed(seed)
    mlp = MLPHead(3, 32, 4).double()
    # the measurement can fail: an unconstrained net of the same shape has negative gaps
    assert jensen_gaps(mlp, _points(seed=seed), num_chords=300,
                       generator=torch.Generator().manual_seed(seed)).min() < -1e-6  # fmt: skip


def test_jensen_gaps_of_known_functions():
    pts = _points()
    assert jensen_gaps(lambda x: (x**2).sum(1), pts).min() >= -TOL
    assert jensen_gaps(lambda x: -(x**2).sum(1), pts).max() <= TOL
    assert jensen_gaps(lambda x: -(x**2).sum(1), pts).min() < -0.1
    with pytest.raises(ValueError, match="at least 2"):
        jensen_gaps(lambda x: x.sum(1), pts[:1])


def test_clamp_after_every_optimiser_step_keeps_a_trained_icnn_convex():
    z, y = _nonconvex_data()
    torch.manual_seed(0)
    net = ICNN(3, 32, 4)
    mins: list[float] = []

    def check(optimizer, args, kwargs):  # registered after clamping's hook, so it sees the clamped weights
        mins.append(min(float(w.min()) for w in net.constrained()))

    with clamping(net):
        handle = register_optimizer_step_post_hook(check)
        try:
            fit(net, (z, y), _mse, epochs=5, batch_size=32, lr=1e-2, seed=0, device="cpu")
        finally:
            handle.remove()
    assert len(mins) == 5 * 8 and min(mins) >= 0.0
    gaps = jensen_gaps(net.double(), _points(), num_chords=300, generator=torch.Generator().manual_seed(3))
    assert gaps.min() >= -TOL


def test_without_clamping_training_breaks_the_constraint():
    """The clamp does work: the same training outside :func:`clamping` drives some W_l negative."""
    z, y = _nonconvex_data()
    torch.manual_seed(0)
    net = ICNN(3, 32, 4)
    fit(net, (z, y), _mse, epochs=5, batch_size=32, lr=1e-2, seed=0, device="cpu")
    assert min(float(w.detach().min()) for w in net.constrained()) < 0


def test_clamping_leaves_other_optimisers_alone():
    net, other = ICNN(2, 8, 2), torch.nn.Linear(2, 8, bias=False)
    with torch.no_grad():
        net.w[0].weight.fill_(1.0)
    with clamping(net):
        with torch.no_grad():
            net.w[0].weight.fill_(-1.0)  # a negative weight, only clamped by a step over net's parameters
        opt = torch.optim.SGD(other.parameters(), lr=0.1)
        other(torch.ones(1, 2)).sum().backward()
        opt.step()
        assert (net.w[0].weight < 0).all()
        opt = torch.optim.SGD(net.parameters(), lr=0.0)
        net(torch.ones(1, 2)).sum().backward()
        opt.step()
        assert (net.w[0].weight >= 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        ICNN(3, 8, 0)
