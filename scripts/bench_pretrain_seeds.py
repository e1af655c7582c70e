"""Seconds to pretrain several arch2vec seeds together (grouped) against one seed alone.

Usage::

    python scripts/bench_pretrain_seeds.py --spaces nb201,nbgraph --seeds 0,1,2 --threads 1

Per space, with the paper's configuration and nothing read from or written to
the checkpoint cache: (alone) :func:`lib.arch2vec.train.pretrain` of seed 0,
what a default search loads; (grouped) :func:`lib.arch2vec.train.pretrain_seeds`
of every ``--seeds`` at once (:func:`lib.latent.grouped.fit_grouped`). The
table (wall and CPU seconds of this process, CPU seconds per model, the ratio
grouped / (alone × seeds) in CPU time) and the machine's load average go to
``results/bench_pretrain_seeds/``. On a shared machine the wall times depend on
the other jobs; with one torch thread the CPU times do much less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from lib.arch2vec import default_config  # noqa: E402
from lib.arch2vec.train import pretrain, pretrain_seeds  # noqa: E402
from lib.config import parse_int_list  # noqa: E402
from lib.results import start_run  # noqa: E402


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,nbgraph", help="comma separated (nb201, nbgraph, nb101)")
    parser.add_argument("--seeds", default="0,1,2", help="the grouped seeds, e.g. 0,1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both trainings")
    parser.add_argument("--epochs", type=int, default=None, help="override the paper's epochs")
    args = parser.parse_args(argv)
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    seeds = parse_int_list(args.seeds)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    run = start_run("bench_pretrain_seeds", {"spaces": spaces, "seeds": seeds, "threads": args.threads, **overrides})
    rows = []
    for space in spaces:
        config = default_config(space, **overrides)
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        pretrain(config, use_cache=False, progress=False, threads=args.threads)
        alone, alone_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        pretrain_seeds(config, seeds, use_cache=False, progress=False, threads=args.threads)
        grouped, grouped_cpu = time.perf_counter() - started, time.process_time() - cpu
        rows.append({"space": space, "epochs": config.epochs, "threads": args.threads, "seeds": len(seeds),
                     "alone_s": alone, "grouped_s": grouped, "alone_cpu_s": alone_cpu, "grouped_cpu_s": grouped_cpu,
                     "grouped_cpu_per_model_s": grouped_cpu / len(seeds),
                     "grouped_over_alone_x_seeds_cpu": grouped_cpu / (alone_cpu * len(seeds)),
                     "load_before": load, "load_after": os.getloadavg()[0]})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    run.save_table(table, "bench_pretrain_seeds", floatfmt=".2f")
    print(table.to_markdown(index=False, floatfmt=".2f"))
    return table


if __name__ == "__main__":
    main()
