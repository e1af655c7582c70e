"""Prints how long the benchmark layer takes to load each benchmark (targets from the foundation issue).

    python scripts/bench_loading.py

Targets: NB201 table < 2 s; all NB101 structures to tensors ready for a data
loader < 60 s on 2 cores (cached after the first time). Each figure is the
best of ``--repeats`` runs in this process, with the in-memory table cache
cleared before each run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from lib import benchmark as bm
from lib.encoding import nb101_structure_tensors, one_hot_ops
from lib.errors import DataMissingError
from lib.results import code_version


def timed(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        bm._TABLE_CACHE.clear()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def nb101_tensors(use_cache: bool):
    arrays = nb101_structure_tensors(use_cache=use_cache)
    ops = one_hot_ops(arrays["ops"], 5)
    adj = torch.from_numpy(arrays["adj"]).float()
    return torch.utils.data.TensorDataset(ops, adj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"code {code_version()} | python {platform.python_version()} | torch {torch.__version__} | "
          f"{os.cpu_count()} cores | threads {torch.get_num_threads()}")  # fmt: skip
    cases = [
        ("NB201 table → Benchmark (cifar10)", lambda: bm.load_benchmark("nb201", "cifar10"), 2.0),
        ("NB201 Benchmark.cells() (15,625 cells)", lambda: bm.load_benchmark("nb201").cells(), None),
        ("NB101 20k metrics → Benchmark", lambda: bm.load_benchmark("nb101"), None),
        ("NB101 all 423,624 structures → tensors (no cache)", lambda: nb101_tensors(False), 60.0),
        ("NB101 all 423,624 structures → tensors (cached)", lambda: nb101_tensors(True), 60.0),
        ("NAS-Bench-Graph table → Benchmark (cora)", lambda: bm.load_benchmark("nbgraph", "cora"), None),
    ]
    nb101_tensors(True)  # make sure the cache exists for the cached case
    print(f"{'what':55s} {'seconds':>9s} {'target':>8s}  ok")
    for label, fn, target in cases:
        try:
            seconds, _ = timed(fn, args.repeats)
        except DataMissingError as err:
            print(f"{label:55s} {'skipped':>9s}  ({err})")
            continue
        verdict = "" if target is None else ("yes" if seconds < target else "NO")
        print(f"{label:55s} {seconds:9.3f} {target if target else '':>8}  {verdict}")


if __name__ == "__main__":
    main()
