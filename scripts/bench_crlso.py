"""Seconds per CR-LSO run: the cached warm start (once per space) and whole search runs through the harness.

    python scripts/bench_crlso.py --benchmark nb201:cifar10 --budget 500 --seeds 0 --threads 2

Prints one JSON line per measurement (warm start, then each run with its best validation accuracy and the
step counters). The issue's target: under 5 minutes per NB201 run of 500 queries on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lib.benchmark import load_benchmark
from lib.crlso.search import CRLSO
from lib.latent.train import model_identity
from lib.search import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="nbgraph:cora", help="benchmark[:dataset]")
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--step-sign", default="descent", choices=["descent", "public"])
    parser.add_argument("--schedule", default="warm", choices=["warm", "full"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name, _, dataset = args.benchmark.partition(":")
    bench = load_benchmark(name, dataset or None)
    hp = {"step_sign": args.step_sign, "schedule": args.schedule}
    start = time.perf_counter()
    identity = CRLSO.prepare(bench, **hp)
    print(json.dumps({"what": "warm start (train or load)", "seconds": round(time.perf_counter() - start, 1),
                      "model": identity["config_hash"]}), flush=True)  # fmt: skip
    for seed in [int(s) for s in args.seeds.split(",")]:
        start = time.perf_counter()
        run = run_search(bench, "crlso", budget=args.budget, seed=seed, **hp)
        best = max(r["val_acc"] for r in run.records)
        print(json.dumps({"what": "run", "benchmark": args.benchmark, "budget": args.budget, "seed": seed, **hp,
                          "seconds": round(time.perf_counter() - start, 1), "best_val_acc": best,
                          "threads": args.threads, "code_version": run.metadata["code_version"]}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
