"""Seconds per CR-LSO run (the cached warm start once per space, then whole search runs through the harness), and
the constrained variant against other methods under the same bound.

    python scripts/bench_crlso.py --benchmark nb201:cifar10 --budget 500 --seeds 0 --threads 2
    python scripts/bench_crlso.py --benchmark nb201:cifar10 --budget 100 --seeds 0,1,2 --threads 1 \\
        --constraint latency_pixel3_ms<=6.6 --compare nsga2,random --hp warm_epochs=3 --hp joint_cells=3000

Prints one JSON line per measurement (warm start, then each run with its best validation accuracy, the
step counters and the code version); ``seconds`` is wall time, ``cpu_seconds`` the process's CPU time (the
figure to quote on a shared, loaded machine, where wall time mostly measures the other jobs). With ``--constraint``, ``crlso`` and every ``--compare`` method that takes
a ``constraint`` run under it (``random`` is objective-free), and the last lines are
:func:`lib.search.multiobjective.constrained_table`'s scores: best feasible test accuracy and infeasible share,
mean ± std over the seeds. The issue's time target: under 5 minutes per NB201 run of 500 queries on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lib.benchmark import load_benchmark
from lib.crlso.search import CRLSO
from lib.search import run_search
from lib.search.multiobjective import Constraint, constrained_table, mean_std_table
from lib.search.registry import default_hyperparameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="nbgraph:cora", help="benchmark[:dataset]")
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--step-sign", default="descent", choices=["descent", "public"])
    parser.add_argument("--schedule", default="warm", choices=["warm", "full"])
    parser.add_argument("--constraint", default="", help="COST<=BOUND: the constrained variant, e.g. latency_pixel3_ms<=6.6")
    parser.add_argument("--compare", default="", help="comma-separated methods run with the same constraint and seeds")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                        help="a crlso hyper-parameter (JSON value), e.g. --hp warm_epochs=3 --hp joint_cells=3000")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name, _, dataset = args.benchmark.partition(":")
    bench = load_benchmark(name, dataset or None)
    hp = {"step_sign": args.step_sign, "schedule": args.schedule}
    for item in args.hp:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--hp expects NAME=VALUE, got {item!r}")
        hp[key.strip()] = json.loads(value)
    if args.constraint:
        constraint = Constraint.parse(args.constraint).validate(bench)
        hp["constraint"] = f"{constraint.metric}<={constraint.bound!r}"  # the canonical form lib.sweep writes
    start, cpu = time.perf_counter(), time.process_time()
    identity = CRLSO.prepare(bench, **hp)
    print(json.dumps({"what": "warm start (train or load)", "seconds": round(time.perf_counter() - start, 1),
                      "cpu_seconds": round(time.process_time() - cpu, 1), "model": identity["config_hash"]}),
          flush=True)  # fmt: skip
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for method in ["crlso", *[m.strip() for m in args.compare.split(",") if m.strip()]]:
        takes = default_hyperparameters(method)
        method_hp = hp if method == "crlso" else {k: v for k, v in hp.items() if k == "constraint" and k in takes}
        for seed in seeds:
            start, cpu = time.perf_counter(), time.process_time()
            run = run_search(bench, method, budget=args.budget, seed=seed, **method_hp)
            runs.append(run)
            best = max(r["val_acc"] for r in run.records)
            stats = (run.metadata.get("method_stats") or {}).get("totals", {})
            print(json.dumps({"what": "run", "method": method, "benchmark": args.benchmark, "budget": args.budget,
                              "seed": seed, **method_hp, "seconds": round(time.perf_counter() - start, 1),
                              "cpu_seconds": round(time.process_time() - cpu, 1), "best_val_acc": best, "stats": stats, "threads": args.threads,
                              "code_version": run.metadata["code_version"]}), flush=True)  # fmt: skip
    if args.constraint:
        frame = constrained_table(runs, bench, [hp["constraint"]], [args.budget])
        for value in ("best", "infeasible_share"):
            table = mean_std_table(frame, value, ["method", "constraint"], digits=3)
            print(json.dumps({"what": f"constrained_table {value} (mean ± std)", "rows": table.to_dict("records")}))


if __name__ == "__main__":
    main()
