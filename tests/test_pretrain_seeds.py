"""Pretraining seeds as replicates: the models arch2vec's `pretrain_seed` picks, the sweep's --grid, pooling in lib.replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.arch2vec.train import (config_for_space, pretrain, pretrain_replicate, replicate_group, state_digest)
from lib.benchmark import TEST, VAL, Benchmark
from lib.config import ParameterError
from lib.encoding import encode_dense
from lib.spaces import NB201Space


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    """A 300-cell NB201 table; models pretrain on 64 cells for one epoch into a temporary cache."""
    space = NB201Space()
    cells = [cell for _, cell in zip(range(300), space.enumerate())]
    rng = np.random.default_rng(0)
    natives = [space.to_native(c) for c in cells]
    val = 70 + rng.normal(0, 2, len(cells))
    table = pd.DataFrame({"native": natives, VAL: val, TEST: val + rng.normal(0, 0.5, len(cells))},
                         index=pd.Index(natives, name="key"))  # fmt: skip
    data = encode_dense(space, cells[:64])
    monkeypatch.setattr("lib.latent.train.cache_dir", lambda: tmp_path)
    monkeypatch.setattr("lib.arch2vec.train.space_tensors", lambda config: data)
    return Benchmark("tiny201", "fixture", space, table)


def test_replicate_groups_are_fixed_blocks():
    assert replicate_group(0) is None
    assert replicate_group(1) == replicate_group(2) == (1, 2)
    assert replicate_group(3) == replicate_group(np.int64(4)) == (3, 4)
    for bad in (-1, 1.5, True, "1", None):
        with pytest.raises(ParameterError, match="pretrain_seed must be an integer ≥ 0"):
            replicate_group(bad)


def test_seed_zero_is_the_default_model_and_seeds_one_two_are_grouped(tiny):
    config = config_for_space(tiny.space, epochs=1)
    default = pretrain(config, progress=False)
    zero = pretrain_replicate(config, 0, progress=False)
    assert zero.from_cache and state_digest(zero.model) == state_digest(default.model)
    assert zero.kind == "arch2vec" and "trainer" not in zero.provenance
    two = pretrain_replicate(config, 2, progress=False)
    one = pretrain_replicate(config, 1, progress=False)
    assert not two.from_cache and one.from_cache  # one grouped training made both
    for seed, model in ((1, one), (2, two)):
        assert model.config.seed == seed and model.kind == "arch2vec-grouped"
        assert model.provenance["trainer"] == "fit_grouped" and model.provenance["group"] == [1, 2]
    assert len({state_digest(m.model) for m in (zero, one, two)}) == 3
    assert one.provenance == two.provenance  # one training: the same code version, threads and device


def test_a_group_records_one_code_version(tiny, monkeypatch):
    import itertools

    calls = itertools.count()  # the tree "changes" between any two reads of its version
    monkeypatch.setattr("lib.latent.train.code_version", lambda: f"v{next(calls)}")
    monkeypatch.setattr("lib.arch2vec.train.code_version", lambda: f"v{next(calls)}")
    config = config_for_space(tiny.space, epochs=1)
    three = pretrain_replicate(config, 3, progress=False)
    four = pretrain_replicate(config, 4, progress=False)  # loaded: trained with seed 3
    assert four.from_cache and three.provenance["code_version"] == four.provenance["code_version"] == "v0"


@pytest.mark.parametrize("method", ["arch2vec_bo", "arch2vec_rl"])
def test_pretrain_seed_selects_the_model_the_run_records(tiny, method):
    from lib.arch2vec.search import prepare_model
    from lib.search import default_hyperparameters, run_search

    assert default_hyperparameters(method)["pretrain_seed"] == 0
    config = config_for_space(tiny.space, epochs=1)
    default = run_search(tiny, method, 20, 0, pretrain_epochs=1)
    explicit = run_search(tiny, method, 20, 0, pretrain_epochs=1, pretrain_seed=0)
    other = run_search(tiny, method, 20, 0, pretrain_epochs=1, pretrain_seed=1)
    assert default.metadata["model"]["digest"] == state_digest(pretrain(config, progress=False).model)
    assert list(default.keys) == list(explicit.keys)
    assert default.metadata["config_hash"] == explicit.metadata["config_hash"]  # 0 is the default, resolved
    model = other.metadata["model"]
    assert model["digest"] == state_digest(pretrain_replicate(config, 1, progress=False).model)
    assert model["digest"] != default.metadata["model"]["digest"]
    assert model["provenance"]["trainer"] == "fit_grouped" and model["provenance"]["group"] == [1, 2]
    assert model == prepare_model(tiny, 1, pretrain_seed=1)
    assert other.metadata["config_hash"] != default.metadata["config_hash"]
    with pytest.raises(ParameterError, match="pretrain_seed"):
        run_search(tiny, method, 20, 0, pretrain_epochs=1, pretrain_seed=-1)


# --------------------------------------------------------------------------- the sweep's --grid


def test_grid_expands_to_one_setting_per_value():
    from lib.sweep import build_grid

    pairs = [("nbgraph", "cora")]
    grid = build_grid(pairs, ["random", "arch2vec_bo"], [0, 1], [50, 100], {"arch2vec_bo": {"ei": "incumbent"}},
                      {"arch2vec_bo": {"pretrain_seed": [0, 1, 2]}})  # fmt: skip
    bo = [(s.seed, s.hyperparameters) for s in grid if s.method == "arch2vec_bo"]
    assert bo == [(seed, {"ei": "incumbent", "pretrain_seed": p}) for p in (0, 1, 2) for seed in (0, 1)]
    assert [(s.seed, s.hyperparameters, s.budget) for s in grid if s.method == "random"] == [(0, {}, 100), (1, {}, 100)]
    two = build_grid(pairs, ["arch2vec_rl"], [0], [10], None,
                     {"arch2vec_rl": {"pretrain_seed": [0, 1], "hidden": [8, 16]}})  # fmt: skip
    assert [s.hyperparameters for s in two] == [{"pretrain_seed": p, "hidden": h} for p in (0, 1) for h in (8, 16)]


def test_grid_refuses_bad_input():
    from lib.sweep import build_grid, main, parse_grid

    assert parse_grid(["arch2vec_bo.pretrain_seed=0,1,2", "arch2vec_bo.ei=fixed,incumbent"]) == {
        "arch2vec_bo": {"pretrain_seed": [0, 1, 2], "ei": ["fixed", "incumbent"]}}
    pairs = [("nbgraph", "cora")]
    with pytest.raises(ValueError, match="does not run"):
        build_grid(pairs, ["random"], [0], [10], None, {"arch2vec_bo": {"pretrain_seed": [0]}})
    with pytest.raises(ValueError, match="repeated"):
        build_grid(pairs, ["arch2vec_bo"], [0], [10], None, {"arch2vec_bo": {"pretrain_seed": [1, 1]}})
    with pytest.raises(ValueError, match="by --hp and by --grid"):
        build_grid(pairs, ["arch2vec_bo"], [0], [10], {"arch2vec_bo": {"pretrain_seed": 1}},
                   {"arch2vec_bo": {"pretrain_seed": [0, 1]}})  # fmt: skip
    with pytest.raises(ValueError, match="at least one value"):
        build_grid(pairs, ["arch2vec_bo"], [0], [10], None, {"arch2vec_bo": {"pretrain_seed": []}})
    for bad in ("arch2vec_bo.pretrain_seed", "pretrain_seed=1", "arch2vec_bo.pretrain_seed=0,,1"):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid([bad])
    with pytest.raises(SystemExit):  # an unknown hyper-parameter is refused before anything runs
        main(["--benchmark", "nbgraph:cora", "--methods", "arch2vec_bo", "--grid", "arch2vec_bo.pretrain_sed=0,1",
              "--dry-run"])  # fmt: skip


# --------------------------------------------------------------------------- pooling replicates


def _meta(method, seed, **hp):
    from lib.search import default_hyperparameters

    return {"method": method, "seed": seed, "config_hash": "abcdef123456",
            "hyperparameters": default_hyperparameters(method) | hp}


def test_labels_leave_the_pooled_hyperparameter_out():
    from lib.replicates import method_label, replicate_of

    pooled = ["pretrain_seed"]
    meta = _meta("arch2vec_bo", 0, pretrain_seed=2, ei="incumbent")
    assert method_label(meta) == "arch2vec_bo[ei:incumbent,pretrain_seed:2]"
    assert method_label(meta, pooled) == "arch2vec_bo[ei:incumbent]"
    assert replicate_of(meta, pooled) == "pretrain_seed:2"
    assert replicate_of(_meta("arch2vec_bo", 0), pooled) == "pretrain_seed:0"
    older = {**meta, "hyperparameters": {k: v for k, v in meta["hyperparameters"].items() if k != "pretrain_seed"}}
    assert replicate_of(older, pooled) == "pretrain_seed:0"  # stored before the hyper-parameter: the default
    assert replicate_of(_meta("random", 0), pooled) == "" and replicate_of(meta) == ""
    assert method_label({**meta, "method": "gone"}, pooled, defaults=lambda m: 1 / 0) == "gone@abcdef"


def _pooled_results():
    """arch2vec_bo: 3 replicates × 4 seeds, best = 90 + replicate + seed / 10; random: 4 seeds, best = 89 + seed / 10."""
    rows = [{"benchmark": "b", "dataset": "d", "method": "arch2vec_bo", "metric": "test_acc", "budget": 50,
             "seed": s, "replicate": f"pretrain_seed:{p}", "best": 90.0 + p + s / 10} for p in range(3) for s in range(4)]
    rows += [{"benchmark": "b", "dataset": "d", "method": "random", "metric": "test_acc", "budget": 50,
              "seed": s, "replicate": "", "best": 89.0 + s / 10} for s in range(4)]
    return pd.DataFrame(rows)


def test_pooled_summary_averages_every_run():
    from lib.replicates import summarize_best

    summary = summarize_best(_pooled_results()).set_index("method")
    values = [90.0 + p + s / 10 for p in range(3) for s in range(4)]
    assert summary.loc["arch2vec_bo", "mean"] == pytest.approx(np.mean(values))
    assert summary.loc["arch2vec_bo", "std"] == pytest.approx(np.std(values, ddof=1))
    assert tuple(summary.loc["arch2vec_bo", ["runs", "seeds", "replicates"]]) == (12, 4, 3)
    assert tuple(summary.loc["random", ["runs", "seeds", "replicates"]]) == (4, 4, 1)


def test_variance_split_attributes_the_spread():
    from lib.replicates import variance_split

    split = variance_split(_pooled_results())
    assert list(split["method"]) == ["arch2vec_bo"]  # random has one replicate
    row = split.iloc[0]
    # additive: replicate effects 0, 1, 2 (std 1), seed effects 0, .1, .2, .3; no interaction
    assert row["std_between_replicates"] == pytest.approx(1.0)
    assert row["std_between_seeds"] == pytest.approx(np.std([0, 0.1, 0.2, 0.3], ddof=1))
    ss_rep, ss_seed = 4 * 2.0, 3 * np.sum((np.arange(4) / 10 - 0.15) ** 2)
    assert row["replicate_share"] == pytest.approx(ss_rep / (ss_rep + ss_seed))
    assert row["seed_share"] == pytest.approx(ss_seed / (ss_rep + ss_seed))
    assert row["residual_share"] == pytest.approx(0.0, abs=1e-12)
    incomplete = _pooled_results().drop(index=[0])  # replicate 0 lacks seed 0: seed 0 is left out
    assert variance_split(incomplete).iloc[0]["seeds"] == 3


def test_paired_comparison_pairs_the_replicate_mean_by_search_seed():
    from lib.replicates import mean_over_replicates
    from lib.search.compare import paired_comparison

    results = _pooled_results()
    with pytest.raises(ValueError, match="more than once"):  # compare's rule: one row per seed and method
        paired_comparison(results, "arch2vec_bo", "random")
    means = mean_over_replicates(results)
    bo = means[means["method"] == "arch2vec_bo"].set_index("seed")
    assert list(bo["best"]) == pytest.approx([91.0 + s / 10 for s in range(4)]) and set(bo["replicates"]) == {3}
    row = paired_comparison(means, "arch2vec_bo", "random").iloc[0]
    assert row["seeds"] == 4 and row["mean_difference"] == pytest.approx(2.0)
    duplicated = pd.concat([results, results.iloc[[0]]])
    with pytest.raises(ValueError, match="must occur once"):
        mean_over_replicates(duplicated)
    with pytest.raises(ValueError, match="lack the column"):
        mean_over_replicates(results.drop(columns="best"))


# --------------------------------------------------------------------------- Table 1 over pretraining seeds


def _table1():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("table1", Path(__file__).parent.parent / "scripts" / "table1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table1_over_seeds_gives_mean_and_std_per_metric():
    table1 = _table1()
    rows = pd.DataFrame([{"space": "nb201", "model": "arch2vec", "pretrain_seed": s,
                          **{m: 10.0 * (s + 1) for m in table1.METRICS}} for s in range(3)])  # fmt: skip
    rows.loc[2, "uniqueness_ceiling"] = np.nan
    from lib.replicates import mean_std_text

    out = mean_std_text(rows, ["space", "model"], table1.METRICS, "pretrain_seed").iloc[0]
    assert out["pretrain_seeds"] == "0,1,2" and out["reconstruction"] == "20.00 ± 10.00"
    assert out["uniqueness_ceiling"] == "15.00 ± 7.07"  # the NaN seed left out
    assert table1.METRICS[0] == "reconstruction" and table1.METRICS[-1] == "uniqueness_ceiling"


@pytest.mark.parametrize("argv, message", [(["--spaces", "darts", "--pretrain-seeds", "0,1"], "DARTS"),
                                           (["--spaces", "nb201", "--pretrain-seeds", "-1"], "pretrain-seeds")])
def test_table1_refuses_bad_pretrain_seeds(argv, message, capsys):
    with pytest.raises(SystemExit):
        _table1().main(argv)
    assert message in capsys.readouterr().err
