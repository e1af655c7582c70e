"""Seconds per AG-Net run on CPU: pretraining (once, cached) and search runs of a given budget.

    python scripts/bench_agnet.py --benchmark nb201:cifar10 --budget 304 --seeds 0,1 --threads 2

Prints one line per run (seconds, best validation accuracy, invalid / unmeasured
/ random-fill counts) and the mean. The generator is pretrained (and cached)
before the clock starts, so the numbers are per search run with it cached.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="nb201:cifar10")
    parser.add_argument("--budget", type=int, default=304)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hp", action="append", default=[], help="NAME=VALUE (JSON value), repeatable")
    args = parser.parse_args(argv)
    import json

    from lib.agnet.search import AGNet
    from lib.search import run_search
    from lib.search.harness import parse_benchmark

    torch.set_num_threads(args.threads)
    hp = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.hp)}
    bench = parse_benchmark(args.benchmark)
    start = time.perf_counter()
    model = AGNet.prepare(bench, **hp)
    print(f"pretrained generator ready in {time.perf_counter() - start:.1f} s (digest {model['digest']})")
    times = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        start = time.perf_counter()
        run = run_search(bench, "agnet", args.budget, seed, **hp)
        times.append(time.perf_counter() - start)
        fb = run.metadata["method_stats"]["totals"]
        print(f"seed {seed}: {times[-1]:.1f} s, best val {run.best_so_far('val_acc')[-1]:.2f}, "
              f"invalid {fb.get('invalid')}, unmeasured {fb.get('unmeasured')}, "
              f"random fill {fb.get('random_fill')}")
    print(f"mean {np.mean(times):.1f} s per run of {args.budget} queries on {args.threads} threads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
