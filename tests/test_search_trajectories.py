"""Search speed-ups must not change what a method queries: BANANAS against keys recorded from its code at 08e269e.

``tests/data/search_trajectories.json`` holds the queried keys of runs made by
the code before any speed work (commit 08e269e, NB201 CIFAR-10). BANANAS
decides each batch without looking at the budget, so a short run is a prefix
of the recorded long one; 20 queries cover the random start and one predictor
fit (an MLP ensemble and Thompson sampling).
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
        trajectory = run_search(record["benchmark"], "bananas", 20, seed)
    except Exception as exc:  # the NB201 table is not available on this machine
        if type(exc).__name__ == "DataMissingError":
            pytest.skip(str(exc))
        raise
    assert list(trajectory.keys) == record["keys"][:20]
