"""lib.latent.grouped.fit_grouped: K GIN graph VAEs trained at once give what fit gives each alone."""

import dataclasses

import pytest
import torch

from lib.arch2vec import default_config
from lib.arch2vec.model import Arch2Vec, vae_loss
from lib.latent.grouped import fit_grouped, supports_grouped
from lib.latent.train import fit, state_digest


def _cells(n=96, nodes=8, vocab=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    ops = torch.nn.functional.one_hot(torch.randint(vocab, (n, nodes), generator=g), vocab).float()
    adj = (torch.rand(n, nodes, nodes, generator=g) < 0.4).float().triu(1)
    return ops, adj


def _factory(**overrides):
    config = dataclasses.replace(default_config("nb201"), hidden_dim=32, **overrides)
    return lambda: Arch2Vec(7, config)


@torch.no_grad()
def _train_mode_mu(model, data):
    model.train()
    mu, _ = model.encoder(*data)
    model.eval()
    return mu


KW = dict(epochs=2, batch_size=32, lr=1e-3, grad_clip=5.0, device="cpu")


def test_deterministic_parts_match_fit():
    # No dropout and no sampling: the only difference to fit is float rounding, so the weights agree closely,
    # except the biases of the linear layers that feed a batch norm (their true gradient is 0, so Adam turns
    # rounding noise into ±lr steps) and the running means that follow them; the encoders, with batch statistics
    # (which cancel those biases), still agree.
    data = _cells()
    factory = _factory(dropout=0.0, variational=False)
    ref, ref_hist = fit(factory, data, vae_loss, seed=3, **KW)
    (model,), (hist,) = fit_grouped(factory, data, [3], **KW)
    ref_state, state = ref.state_dict(), model.state_dict()
    assert list(ref_state) == list(state)  # same keys, same order
    noisy = ("mlp.0.bias", "mlp.3.bias", "running_mean")
    for key in ref_state:
        if not key.endswith(noisy):
            assert torch.allclose(ref_state[key].float(), state[key].float(), atol=1e-4, rtol=1e-4), key
    assert torch.allclose(_train_mode_mu(ref, data), _train_mode_mu(model, data), atol=1e-3)
    assert hist[-1]["loss"] == pytest.approx(ref_hist[-1]["loss"], rel=1e-4)
    assert not model.training


def test_group_members_train_like_alone():
    # each model has its own noise and batch streams: model k of a group of three is the model of seed k alone
    data = _cells()
    factory = _factory()
    group, _ = fit_grouped(factory, data, [0, 1, 2], **KW)
    (alone,), _ = fit_grouped(factory, data, [1], **KW)
    for key, value in alone.state_dict().items():
        if not key.endswith(("mlp.0.bias", "mlp.3.bias", "running_mean")):  # see the test above
            assert torch.allclose(value.float(), group[1].state_dict()[key].float(), atol=1e-4), key
    assert torch.allclose(_train_mode_mu(alone, data), _train_mode_mu(group[1], data), atol=1e-3)
    assert len({state_digest(m) for m in group}) == 3


def test_initialisation_is_the_factorys_and_training_is_seeded():
    data = _cells()
    factory = _factory()
    (untrained,), _ = fit_grouped(factory, data, [5], **{**KW, "epochs": 0})
    torch.manual_seed(5)
    assert state_digest(untrained) == state_digest(factory())
    a, hist = fit_grouped(factory, data, [0, 1], **KW)
    b, _ = fit_grouped(factory, data, [0, 1], **KW)
    assert [state_digest(m) for m in a] == [state_digest(m) for m in b]
    assert hist[0][-1]["loss"] < hist[0][0]["loss"]


def test_rejects_what_it_cannot_train():
    data = _cells()
    with pytest.raises(ValueError, match="GIN"):
        fit_grouped(_factory(encoder="gcn"), data, [0], **KW)
    with pytest.raises(ValueError, match="seed"):
        fit_grouped(_factory(), data, [], **KW)
    assert supports_grouped(_factory()()) and not supports_grouped(_factory(encoder="gcn")())


def test_fit_lean_is_fit_bit_for_bit():
    # the lean loop (precomputed tensors, contiguous slices of one permutation, no per-step host sync) trains
    # the very same model as fit with vae_loss, dropout and sampling included, so the cache version stays
    from lib.latent.train import fit_lean
    from lib.latent.vae import dense_vae_tensors, vae_loss_dense

    ops, adj = _cells(100)
    factory = _factory()
    a, hist_a = fit(factory, (ops, adj), vae_loss, seed=1, **KW)
    b, hist_b = fit_lean(factory, dense_vae_tensors(ops, adj), vae_loss_dense, seed=1, **KW)
    assert state_digest(a) == state_digest(b)
    assert hist_b[-1]["loss"] == pytest.approx(hist_a[-1]["loss"], rel=1e-5)
    c, _ = fit_lean(factory, dense_vae_tensors(ops, adj), vae_loss_dense, seed=2, **KW)
    assert state_digest(c) != state_digest(a)


def test_pretrain_seeds_caches_each_seed(tmp_path, monkeypatch):
    from lib.arch2vec.train import pretrain_seeds

    monkeypatch.setattr("lib.latent.train.cache_dir", lambda: tmp_path)
    config = dataclasses.replace(default_config("nb201"), hidden_dim=16, epochs=1)
    data = _cells(64)
    monkeypatch.setattr("lib.arch2vec.train.space_tensors", lambda c: data)
    first = pretrain_seeds(config, (0, 1, 2), progress=False)
    assert [t.config.seed for t in first] == [0, 1, 2] and not any(t.from_cache for t in first)
    assert len({state_digest(t.model) for t in first}) == 3
    assert all(t.provenance["trainer"] == "fit_grouped" and t.provenance["group"] == [0, 1, 2] for t in first)
    again = pretrain_seeds(config, (0, 1, 2), progress=False)
    assert all(t.from_cache for t in again)
    assert [state_digest(t.model) for t in again] == [state_digest(t.model) for t in first]
    assert again[0].provenance["trainer"] == "fit_grouped"
    with pytest.raises(ValueError, match="distinct"):
        pretrain_seeds(config, (1, 1))
    with pytest.raises(ValueError, match="GIN"):
        pretrain_seeds(dataclasses.replace(config, encoder="gcn"), (0,))


def test_reference_loop_keeps_the_authors_eval_quirk():
    from lib.arch2vec.reference import ReferenceTrainer

    ops, adj = _cells(64)
    trainer = ReferenceTrainer(ops, adj, hidden_dim=16, seed=0)
    first, second = trainer.epoch(), trainer.epoch()
    assert first["train_mode"] and not second["train_mode"]  # model.eval() once, model.train() never again
    assert first["cells"] == second["cells"] == 64 and first["loss"] > second["loss"] > 0
