"""Search speed-ups must not change what a method queries: keys recorded from the code at 08e269e.

``tests/data/search_trajectories.json`` holds the queried keys of runs made by
the code before any speed work (commit 08e269e, NB201 CIFAR-10). BANANAS
decides each batch without looking at the budget, so a short run is a prefix
of the recorded long one; 40 queries cover the random start and three predictor
fits (an MLP ensemble and Thompson sampling). arch2vec_bo's recorded keys
also name the pretrained model's digest; its test runs only with that model
(40 queries: 16 random, then 24 DNGO fits with log-EI over the whole pool).
The full 200-query runs are compared by ``scripts/bench_search_ab.py``.
"""

import json
from pathlib import Path

import pytest

from lib.search import run_search

RECORDED = json.loads((Path(__file__).parent / "data" / "search_trajectories.json").read_text())


@pytest.mark.parametrize("seed", [0, 1])
def test_bananas_queries_what_it_queried_before(seed):
    pytest.importorskip("torch")
    record = next(r for r in RECORDED["runs"] if r["method"] == "bananas" and r["seed"] == seed)
    try:
        trajectory = run_search(record["benchmark"], "bananas", 40, seed)
    except Exception as exc:  # the NB201 table is not available on this machine
        if type(exc).__name__ == "DataMissingError":
            pytest.skip(str(exc))
        raise
    assert list(trajectory.keys) == record["keys"][:40]


@pytest.mark.parametrize("seed", [0, 1])
def test_arch2vec_bo_queries_what_it_queried_before(seed):
    # arch2vec_bo's keys depend on the pretrained model too: compare only with the very model that was recorded
    from lib.arch2vec.train import checkpoint_path, config_for_space, pretrain, state_digest
    from lib.benchmark import load_benchmark
    from lib.errors import DataMissingError

    record = next(r for r in RECORDED["runs"] if r["method"] == "arch2vec_bo" and r["seed"] == seed)
    try:
        bench = load_benchmark(*record["benchmark"].split(":"))
    except DataMissingError as exc:
        pytest.skip(str(exc))
    config = config_for_space(bench.space)
    if not checkpoint_path(config).exists():
        pytest.skip("the recorded NB201 arch2vec model is not cached here (training it takes minutes)")
    if state_digest(pretrain(config, progress=False).model) != record["model_digest"]:
        pytest.skip("the cached NB201 arch2vec model is not the one the keys were recorded with")
    assert list(run_search(bench, "arch2vec_bo", 40, seed).keys) == record["keys"][:40]


def test_the_ab_benchmark_runs_old_and_new_code_paths_to_the_same_keys(capsys):
    # scripts/bench_search_ab.py is what the README's speed-ups are measured with: its reference variants
    # (the pre-speed-work predictors and search loop) must run and query exactly what the current code queries.
    # A 1-epoch arch2vec model serves: the old and new paths are compared on the same model.
    import importlib.util

    from lib.errors import DataMissingError

    path = Path(__file__).resolve().parent.parent / "scripts" / "bench_search_ab.py"
    spec = importlib.util.spec_from_file_location("bench_search_ab", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit):
        bench.main(["--methods", "random"])  # no reference code path for it: a clear usage error
    try:
        bench.main(["--methods", "arch2vec_bo,bananas", "--budget", "21", "--seeds", "1", "--pretrain-epochs", "1"])
    except DataMissingError as exc:
        pytest.skip(str(exc))
    out = capsys.readouterr().out
    assert "all queried keys identical: True" in out
    assert out.count("every variant queried the same keys: True") == 2
    for variant in ("arch2vec_bo  ref ", "arch2vec_bo  new ", "bananas      ref0", "bananas      ref ", "bananas      new "):
        assert variant in out
