"""Per-query cost of every registered search method on one benchmark.

Usage::

    python scripts/bench_search.py                                   # NB201 CIFAR-10, budget 200, seed 0
    python scripts/bench_search.py --budget 50 --seeds 0,1 --methods bananas,arch2vec_bo

Each method runs once per seed through :func:`lib.search.run_search` (the
harness's full path, with its oracle and recording) on one benchmark object
loaded once (as :mod:`lib.sweep` reuses it, so the pool's cells are built
once, not per run), in this process, one
method after another within a seed round (A B C …, then again for the next
seed), after one untimed warm-up run of each method at budget 5 (tables,
caches and any pretrained model are loaded then, so the timed runs measure the
search itself). It prints seconds per run and milliseconds per query, the
torch thread count, the code version and the load average at the start and
the end: other processes on the same cores slow every number down.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from lib.benchmark import load_benchmark  # noqa: E402
from lib.results import code_version  # noqa: E402
from lib.search import available_methods, run_search  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="nb201:cifar10")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: every registered one)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",") if args.methods else [m for m in available_methods() if not m.startswith("_")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"code {code_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"cpu cores {os.cpu_count()}, load average at the start {os.getloadavg()}")  # fmt: skip
    print(f"{args.benchmark}, budget {args.budget}, seeds {seeds}")
    bench = load_benchmark(*args.benchmark.split(":"))  # loaded once and reused, as a sweep does
    for method in methods:  # warm-up: loads tables and pretrained models outside the timing
        run_search(bench, method, 5, 0)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for seed in seeds:
        for method in methods:
            start = time.perf_counter()
            trajectory = run_search(bench, method, args.budget, seed)
            seconds = time.perf_counter() - start
            times[method].append(seconds)
            print(f"  seed {seed} {method:16} {seconds:8.2f} s  {1000 * seconds / len(trajectory.records):8.2f} ms/query"
                  f"  load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    print(f"{'method':16} {'runs':>4} {'mean s/run':>10} {'ms/query':>9}")
    for method, values in times.items():
        mean = sum(values) / len(values)
        print(f"{method:16} {len(values):4d} {mean:10.2f} {1000 * mean / args.budget:9.2f}")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
