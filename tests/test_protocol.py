"""The protocol as a boundary: what every registered search method may see and must do.

* the oracle holds no test accuracy, its pool cannot be reordered, the budget
  is checked against the benchmark's own counters and re-queries are capped;
* for **every** registered method: permuting the test column leaves its
  queries unchanged, a run at budget B is the prefix of a run at 2B, the unit
  of the accuracies (percent or fractions) does not change its queries, and
  it beats random search on a fixture objective where that is expected;
* run identity: method version, table content and model enter the run's hash;
* NB101 moves grow and shrink cells, and every method sees the measured pool
  the same way.

The fixture objective is the whole NB201 space (enumerated, no data file
needed) with an additive score per edge operation plus a little noise: an
objective every model-based or local method should climb faster than random
sampling, so a flipped ranking or a flipped gradient fails here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.benchmark import TEST, VAL, Benchmark, load_benchmark
from lib.errors import BudgetExhaustedError, QueryLimitError
from lib.search import SearchOracle, available_methods, registry, run_search
from lib.search.harness import config_hash, run_identity
from lib.spaces import NB201Space

FAST = {
    "arch2vec_bo": {"pretrain_epochs": 1},
    "arch2vec_rl": {"pretrain_epochs": 1},
    "bananas": {"epochs": 60},
    "nao_gvae": {"pretrain_epochs": 1, "hidden_dim": 24, "steps": 10, "finetune_epochs": 1},
    "agnet": {"pretrain_epochs": 1, "pretrain_cells": 2000, "passes": 3, "num_candidates": 40},
    "crlso": {"warm_epochs": 1, "joint_epochs": 1, "hidden_dim": 32, "latent_dim": 8, "head_hidden": 32,
              "init_size": 10, "labeller_epochs": 20, "finetune_epochs": 10},
}
"""Cheaper settings of some methods for tests (the protocol does not depend on them)."""

NOT_EXPECTED_TO_BEAT_RANDOM = {
    "random": "it is random search",
    "nsga2": "multi-objective: it spreads its budget along the accuracy-cost front",
    "arch2vec_bo": "tested on the latent fixture instead (test_arch2vec_bo_beats_random_on_its_own_latent_objective)",
    "arch2vec_rl": "its REINFORCE step is tested directly (test_reinforce_step_makes_rewarded_actions_likelier); "
                   "at these budgets it does not beat random even on its own latent objective (measured: mean "
                   "regret 27.3 vs random 18.5 at 64 queries, 3 seeds), as in the paper, where it trails BO",
    "nao_gvae": "with a warm start cheap enough for this test most decoded points are invalid and its rounds are "
                "filled with random cells; its search is tested through the harness on NB201 instead "
                "(tests/test_nao_gvae.py::test_through_the_harness_spends_the_budget_and_beats_random)",
    "agnet": "with the generator pretrained as cheaply as this test affords (1 epoch on 2,000 cells) it does not "
             "(measured: mean regret 4.57 vs random 3.93 at 60 queries, 3 seeds); with the space's default "
             "generator it is tested to beat random on NB201 in tests/test_agnet.py",
    "crlso": "with the warm start and joint training this test affords (1 epoch each, width 32) it does not "
             "(measured in CI at f03a47c: mean regret 4.44 vs random 3.93 at 60 queries, 3 seeds; it passed on "
             "one thread on a loaded machine, so the result depends on the thread count); it is tested to beat "
             "random search's expected best on a stand-in in tests/test_crlso.py",
}
"""Registered methods left out of the additive-fixture beats-random test, each with the reason."""


def hps(method: str) -> dict:
    return dict(FAST.get(method, {}))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Models pretrained by these tests go to a temporary data folder, shared by the module."""
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path_factory.getbasetemp() / "protocol-data"))


@pytest.fixture(scope="module")
def additive() -> Benchmark:
    """Every NB201 cell with val = 70 + Σ edge-operation weights + noise (percent)."""
    space = NB201Space()
    rng = np.random.default_rng(0)
    weights = rng.normal(0.0, 2.0, size=(6, len(space.operations)))
    natives, scores = [], []
    for cell in space.enumerate():
        native = space.to_native(cell)
        edges = [part.split("~")[0] for node in native.strip("|").split("|+|") for part in node.split("|")]
        natives.append(native)
        scores.append(sum(weights[i, space.operations.index(op)] for i, op in enumerate(edges)))
    scores = np.asarray(scores)
    val = 70.0 + scores + rng.normal(0.0, 0.3, len(scores))
    table = pd.DataFrame({"native": natives, VAL: val, TEST: val + rng.normal(0.0, 0.5, len(val)),
                          "params_M": rng.uniform(0.1, 1.5, len(val))},
                         index=pd.Index(natives, name="key"))  # fmt: skip
    return Benchmark("additive201", "fixture", space, table)


@pytest.fixture(scope="module")
def cora() -> Benchmark:
    return load_benchmark("nbgraph", "cora")


def _with_table(bench: Benchmark, table: pd.DataFrame, name: str | None = None) -> Benchmark:
    return Benchmark(name or bench.name, bench.dataset, bench.space, table)


# --------------------------------------------------------------------------- the oracle as a boundary


def test_the_oracle_holds_no_test_accuracy(cora):
    oracle = SearchOracle(cora, 5)
    reachable = [oracle._bench.table, *(v for v in vars(oracle).values() if isinstance(v, pd.DataFrame))]
    assert all(TEST not in t.columns for t in reachable)
    assert TEST not in oracle.query(cora.sample(np.random.default_rng(0)))
    assert TEST in cora.table.columns  # the caller's benchmark is untouched
    with pytest.raises(ValueError, match="never sees test"):
        oracle.best("test_acc")


def test_the_pool_cannot_be_reordered(cora):
    oracle = SearchOracle(cora, 5)
    pool = oracle.pool()
    assert isinstance(pool, tuple) and len(pool) == len(cora)
    with pytest.raises((TypeError, AttributeError)):
        pool.reverse()
    assert SearchOracle(cora, 5).pool()[0] == cora.cells()[0]


def test_the_budget_is_checked_against_the_benchmarks_own_counters(cora, temporary_method):
    @temporary_method("sneaky")
    class Sneaky:
        def search(self, oracle, rng):
            for _ in range(3):
                oracle._bench.query(oracle.sample_new(rng))  # around the oracle's bookkeeping

    with pytest.raises(RuntimeError, match=r"queried 2 architectures on a budget of 2 \(0 recorded\)"):
        run_search(cora, "sneaky", 2, 0)


def test_re_queries_are_free_but_capped(cora, temporary_method):
    @temporary_method("stuck")
    class Stuck:
        def search(self, oracle, rng):
            cell = oracle.sample_new(rng)
            while True:  # a latent method decoding the same known cell for ever
                oracle.query(cell)

    with pytest.raises(QueryLimitError, match="keeps asking for cells it already knows"):
        run_search(cora, "stuck", 10, 0)


def test_table_facts_belong_to_the_benchmark_not_to_a_recycled_id(cora):
    for i in range(20):  # tables made and dropped in turn: Python reuses their ids
        table = cora.table.iloc[i * 50 : i * 50 + 200].copy()
        bench = _with_table(cora, table, "custom")
        facts = run_search(bench, "random", 3, 0).metadata["oracle"]
        assert facts["best_val_acc"] == pytest.approx(table[VAL].max())
        assert facts["best_test_acc"] == pytest.approx(table[TEST].max())
        del table, bench


# --------------------------------------------------------------------------- every registered method


def _methods() -> list[str]:
    return available_methods()


@pytest.mark.parametrize("method", _methods())
def test_permuting_the_test_column_leaves_the_queries_unchanged(method, cora):
    table = cora.table.copy()
    table[TEST] = np.random.default_rng(1).permutation(table[TEST].to_numpy())
    original = run_search(cora, method, 24, 0, **hps(method))
    permuted = run_search(_with_table(cora, table), method, 24, 0, **hps(method))
    assert original.keys == permuted.keys
    assert [r["test_acc"] for r in permuted.records] == [table.at[k, TEST] for k in permuted.keys]


@pytest.mark.parametrize("method", _methods())
def test_every_method_is_anytime(method, cora):
    short = run_search(cora, method, 20, 3, **hps(method))
    long = run_search(cora, method, 40, 3, **hps(method))
    assert len(short) == 20 and len(long) == 40
    assert long.keys[:20] == short.keys


@pytest.mark.parametrize("method", _methods())
def test_the_unit_of_the_accuracies_does_not_change_the_queries(method, cora):
    fractions = cora.table.copy()
    fractions[VAL] = fractions[VAL] / 100.0
    fractions[TEST] = fractions[TEST] / 100.0
    percent = run_search(cora, method, 24, 2, **hps(method))
    fraction = run_search(_with_table(cora, fractions), method, 24, 2, **hps(method))
    assert percent.keys == fraction.keys


def test_every_method_is_classified_for_the_beats_random_test():
    assert set(NOT_EXPECTED_TO_BEAT_RANDOM) <= set(_methods()) | {"nsga2"}


@pytest.mark.parametrize("method", [m for m in _methods() if m not in NOT_EXPECTED_TO_BEAT_RANDOM])
def test_beats_random_search_on_the_fixture(method, additive):
    budget, seeds = 60, range(3)
    best = additive.table[VAL].max()

    def regret(name: str, **kw) -> float:
        return float(np.mean([best - run_search(additive, name, budget, s, **kw).best_at(budget, "val_acc")
                              for s in seeds]))  # fmt: skip

    ours, rand = regret(method, **hps(method)), regret("random")
    assert ours < 0.6 * rand, f"{method}: mean regret {ours:.2f} vs random {rand:.2f}"


def test_arch2vec_bo_beats_random_on_its_own_latent_objective(cora):
    """val = a decreasing function of the latent distance to one cell: the objective arch2vec's premise promises.

    The objective is defined on the very embedding the method searches, so
    the cheap model of the other protocol tests (1 pretraining epoch, ``FAST``)
    serves as well as the paper's schedule. The textbook incumbent EI finds the
    optimum; the authors' fixed-target form does not reliably do better than
    random here, so it is not held to a margin.
    """
    from lib.arch2vec.search import pool_embeddings

    epochs = hps("arch2vec_bo")["pretrain_epochs"]
    pool = cora.table.iloc[np.random.default_rng(0).permutation(len(cora.table))[:3000]].copy()
    z = pool_embeddings(SearchOracle(_with_table(cora, pool, "latent"), 5), epochs=epochs)
    ours, rand = [], []
    for target in (7, 99, 12345):  # three optima
        sub = pool.copy()
        distance = np.linalg.norm(z - z[int(np.random.default_rng(target).integers(len(z)))], axis=1)
        sub[VAL] = 90.0 - 10.0 * distance / distance.std()
        sub[TEST] = sub[VAL]
        bench, best, budget = _with_table(cora, sub, "latent"), sub[VAL].max(), 80
        for seed in range(3):
            ours.append(best - run_search(bench, "arch2vec_bo", budget, seed, ei="incumbent",
                                          pretrain_epochs=epochs).best_at(budget, VAL))
            rand.append(best - run_search(bench, "random", budget, seed).best_at(budget, VAL))
    assert np.mean(ours) < 0.5 * np.mean(rand), f"arch2vec_bo[incumbent]: {np.mean(ours):.2f} vs random {np.mean(rand):.2f}"


def test_reinforce_step_makes_rewarded_actions_likelier():
    import torch

    from lib.arch2vec.search import Arch2VecRL, _PolicyLSTM

    torch.manual_seed(0)
    policy = _PolicyLSTM(4, 8)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    state = torch.zeros(1, 4)
    good, bad = torch.full((1, 4), 1.0), torch.full((1, 4), -1.0)

    def log_probs():
        policy.state = None
        dist = torch.distributions.MultivariateNormal(policy(state), torch.eye(4))
        return dist.log_prob(good).mean(), dist.log_prob(bad).mean()

    before = [float(x) for x in log_probs()]
    for _ in range(20):
        lp_good, lp_bad = log_probs()
        Arch2VecRL.reinforce_step(optimizer, [lp_good, lp_bad], [0.9, 0.5], baseline=0.7)
    after = [float(x) for x in log_probs()]
    assert after[0] > before[0] and after[1] < before[1]


# --------------------------------------------------------------------------- run identity


def test_run_identity_covers_method_version_table_and_model(cora, monkeypatch):
    cls = registry.get_method("evolution")
    base = config_hash(run_identity(cora, "evolution", {}))
    assert base == config_hash(run_identity(cora.fresh(), "evolution", {}))
    monkeypatch.setattr(cls, "version", cls.version + 1, raising=False)
    assert config_hash(run_identity(cora, "evolution", {})) != base
    monkeypatch.undo()
    changed = cora.table.copy()
    changed.iloc[0, changed.columns.get_loc(VAL)] += 0.01
    assert config_hash(run_identity(_with_table(cora, changed), "evolution", {})) != base
    assert config_hash(run_identity(cora, "evolution", {}, {"digest": "a"})) != config_hash(
        run_identity(cora, "evolution", {}, {"digest": "b"}))


def test_runs_record_the_model_table_and_versions(cora):
    run = run_search(cora, "arch2vec_bo", 20, 0, **hps("arch2vec_bo"))
    meta = run.metadata
    assert meta["table_digest"] == cora.content_digest()
    assert meta["method_version"] >= 2 and meta["code_version"]
    model = meta["model"]
    assert model["kind"] == "arch2vec" and len(model["digest"]) == 16
    assert model["provenance"]["torch_threads"] == 2
    from lib.arch2vec.search import prepare_model

    assert prepare_model(cora, 1) == model  # the same cached model, the same identity


def test_embedding_cache_is_keyed_on_the_pool_content(cora):
    from lib.arch2vec.search import pool_embeddings
    from lib.arch2vec.train import config_for_space, pretrain

    first = _with_table(cora, cora.table.iloc[:500])
    second = _with_table(cora, cora.table.iloc[500:1000])  # same name, dataset and length
    a = pool_embeddings(SearchOracle(first, 5), epochs=1)
    b = pool_embeddings(SearchOracle(second, 5), epochs=1)
    pre = pretrain(config_for_space(cora.space, epochs=1), progress=False)
    assert np.allclose(b, pre.embed(second.cells()), atol=1e-5)
    assert not np.allclose(a, b)


# --------------------------------------------------------------------------- NB101 moves


@pytest.fixture(scope="module")
def nb101():
    from tests.conftest import HAS_NB101

    if not HAS_NB101:
        pytest.skip("NB101 metrics table not found (../shared/data/nb101)")
    return load_benchmark("nb101")


def test_nb101_mutations_grow_and_shrink_cells():
    from lib.cell import Cell
    from lib.spaces import NB101Space

    space = NB101Space()
    small = space.validate(Cell(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), ["input", "conv3x3-bn-relu", "output"]))
    rng = np.random.default_rng(0)
    sizes = set()
    cell = small
    for _ in range(300):
        cell = space.mutate(cell, rng)
        sizes.add(space.validate(cell).num_nodes)
    assert max(sizes) >= 6 and min(sizes) <= 3
    # a half-connected node of the unpruned spec is one edge flip away from growing the cell
    spec = space.spec(small)
    adj = np.array(spec.adjacency)
    adj[0, 2] = 1  # input -> dangling node 2 (pruned away)
    half = Cell(adj, spec.ops)
    assert space.key(half) == space.key(small)
    assert max(space.validate(c).num_nodes for c in space.neighbours(half)) == 4


def test_nb101_moves_see_the_measured_pool_and_count_fallbacks(nb101):
    oracle = SearchOracle(nb101, 50)
    rng = np.random.default_rng(0)
    for _ in range(30):
        cell = oracle.sample(rng)
        assert all(oracle.is_measured(c) for c in oracle.neighbours(cell))
        child = oracle.mutate(cell, rng)
        assert oracle.is_measured(child) and not oracle.is_queried(child)
    assert oracle.fallbacks["neighbours"] > 0 and oracle.fallbacks["mutate"] >= 0
    run = run_search(nb101, "evolution", 40, 0)
    assert set(run.metadata["fallbacks"]) == {"neighbours", "mutate"}


def test_budget_exhaustion_still_ends_a_run_cleanly(cora, temporary_method):
    @temporary_method("greedy")
    class Greedy:
        def search(self, oracle, rng):
            while True:
                oracle.query(oracle.sample_new(rng))

    run = run_search(cora, "greedy", 7, 0)
    assert len(run) == 7 and run.metadata["stopped_by_budget"]
    with pytest.raises(BudgetExhaustedError):
        oracle = SearchOracle(cora, 1)
        oracle.query(oracle.sample_new(np.random.default_rng(0)))
        oracle.query(oracle.sample_new(np.random.default_rng(1)))


# --------------------------------------------------------------------------- results groups


def _meta(seed, **changes):
    meta = {"benchmark": "b", "dataset": "d", "method": "m", "seed": seed, "budget": 10, "code_version": "abc",
            "method_version": 2, "table_digest": "t1", "model": {"digest": "m1"}, "harness_version": 2}
    return meta | changes


def test_a_results_group_mixing_models_is_refused_and_mixing_code_is_flagged():
    from lib.search.audit import MixedCodeWarning, MixedVersionsError, audit_runs, check_groups

    label = lambda meta: meta["method"]  # noqa: E731
    same = audit_runs([_meta(0), _meta(1)], label)
    assert check_groups(same).empty
    models = audit_runs([_meta(0), _meta(1, model={"digest": "m2"})], label)
    with pytest.raises(MixedVersionsError, match=r"b/d/m: model_digest = m1 \(1 runs\), m2 \(1 runs\)"):
        check_groups(models)
    with pytest.warns(MixedCodeWarning):
        assert len(check_groups(models, on_mixed="flag")) == 1
    code = audit_runs([_meta(0), _meta(1, code_version="def")], label)
    with pytest.warns(MixedCodeWarning, match="code_version"):
        check_groups(code)
    old = audit_runs([{k: v for k, v in _meta(0).items() if k not in ("model", "table_digest")}, _meta(1)], label)
    with pytest.raises(MixedVersionsError, match="unrecorded"):
        check_groups(old)
