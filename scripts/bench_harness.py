"""Times the search harness: overhead per query, and the wall time of a baseline sweep.

    python scripts/bench_harness.py                      # overhead + the full baseline sweep
    python scripts/bench_harness.py --seeds 0-1 --budget 50 --benchmarks nbgraph:cora   # quick

1. Overhead per query: the same random cells are queried once straight from
   ``Benchmark.query`` and once through ``run_search`` (oracle, recording,
   test-accuracy lookup, trajectory and metadata); the difference divided by
   the number of queries is the harness's cost per query.
2. Sweep: runs the baseline grid into a fresh temporary store (nothing is
   reused) with ``--workers`` processes and prints its wall time and the mean
   time of one run per method.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.benchmark import load_benchmark  # noqa: E402
from lib.search import register_method, run_search  # noqa: E402
from lib.search.store import ResultStore  # noqa: E402
from lib.sweep import build_grid, parse_benchmarks, parse_int_list, run_sweep  # noqa: E402


@register_method("_bench_replay")
class _Replay:
    """Queries uniformly drawn measured cells (with repeats allowed), nothing else."""

    def search(self, oracle, rng):
        while oracle.remaining > 0:
            oracle.query(oracle.sample(rng))


def overhead_per_query(spec: str, queries: int, repeats: int = 3) -> dict[str, float]:
    """Seconds per query straight from the benchmark and through the harness (best of ``repeats``)."""
    bench = load_benchmark(*spec.split(":"))
    bench.cells()  # built once, as in a real run
    run_search(bench, "_bench_replay", 5, 0)  # warm caches (code version, table facts)
    raw, harness = [], []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        fresh = bench.fresh(budget=queries)
        seen = set()
        start = time.perf_counter()
        while len(seen) < queries:
            seen.add(fresh.query(fresh.sample(rng))["key"])
        raw.append((time.perf_counter() - start) / queries)
        start = time.perf_counter()
        trajectory = run_search(bench, "_bench_replay", queries, r)
        harness.append((time.perf_counter() - start) / len(trajectory))
    return {"raw_s": min(raw), "harness_s": min(harness), "overhead_s": min(harness) - min(raw)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", default="nb201:cifar10,nb201:cifar100,nb201:imagenet16,nbgraph:cora")
    parser.add_argument("--methods", default="random,evolution,local_search,bananas")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--queries", type=int, default=1000, help="queries for the overhead measurement")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    pairs = parse_benchmarks(args.benchmarks)

    print(f"harness overhead per query ({args.queries} distinct queries, best of 3):")
    for name, dataset in pairs:
        t = overhead_per_query(f"{name}:{dataset}", args.queries)
        print(f"  {name}/{dataset:<11} raw {t['raw_s'] * 1e6:7.1f} µs   via harness {t['harness_s'] * 1e6:7.1f} µs"
              f"   overhead {t['overhead_s'] * 1e6:7.1f} µs/query")
    if args.skip_sweep:
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    grid = build_grid(pairs, methods, parse_int_list(args.seeds), [args.budget])
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as folder:
        store = ResultStore(folder)
        report = run_sweep(grid, store, workers=args.workers, progress=True)
        per_method = defaultdict(list)
        for trajectory in store.load_all():
            per_method[trajectory.metadata["method"]].append(trajectory.metadata["total_wall_time_s"])
    print(f"baseline sweep: {len(grid)} runs ({len(pairs)} benchmarks × {len(methods)} methods × "
          f"{len(parse_int_list(args.seeds))} seeds, budget {args.budget}) on {args.workers} workers: "
          f"{report.wall_time_s:.1f} s wall time, {len(report.failed)} failed")
    for method, times in sorted(per_method.items()):
        print(f"  {method:<13} {np.mean(times):6.2f} s per run (mean of {len(times)})")


if __name__ == "__main__":
    main()
