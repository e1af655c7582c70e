"""Why DARTS and NAS-Bench-Graph pretrain without dropout: operation-node accuracy against dropout on z.

Usage::

    python scripts/dropout_ablation.py                                   # DARTS, 100k cells, 4 epochs
    python scripts/dropout_ablation.py --space nbgraph --cells 0 --epochs 10
    python scripts/dropout_ablation.py --variants 0.3,0.0,0.3:ops_only --threads 2

Each variant trains arch2vec from scratch (not cached) on the first
``--cells`` cells of the space with the paper's other settings, and reports
held-out reconstruction, accuracy over the operation nodes (input and
output nodes left out) and edge accuracy. A variant is a dropout rate,
optionally with ``:ops_only`` (edge loss weight 0: does the encoder carry
the operations at all?). The table and the configurations go to
``results/dropout_ablation/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lib.arch2vec import default_config, space_tensors  # noqa: E402
from lib.arch2vec.metrics import reconstruction_metrics  # noqa: E402
from lib.arch2vec.train import Pretrained, split_indices, train_model  # noqa: E402
from lib.results import start_run  # noqa: E402


def parse_variant(text: str) -> tuple[float, bool]:
    """``"0.3"`` → ``(0.3, False)``; ``"0.3:ops_only"`` → ``(0.3, True)``."""
    rate, _, flag = text.strip().partition(":")
    if flag not in ("", "ops_only"):
        raise ValueError(f"unknown variant flag {flag!r} in {text!r}; the only flag is 'ops_only'")
    return float(rate), flag == "ops_only"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="darts", choices=["darts", "nbgraph", "nb201", "nb101"])
    parser.add_argument("--cells", type=int, default=100_000, help="cells to train on (0: the space's default)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--variants", default="0.3,0.1,0.0,0.3:ops_only", help="dropout[:ops_only], comma separated")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.variants.split(",") if v.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if args.cells < 0 or args.epochs < 1:
        parser.error("--cells must be >= 0 and --epochs >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    base = {"num_cells": args.cells} if args.cells else {}
    data_config = default_config(args.space, epochs=args.epochs, **base)
    ops, adj = space_tensors(data_config)
    _, held_out = split_indices(len(ops), data_config)
    held = torch.as_tensor(held_out)
    configs = [default_config(args.space, epochs=args.epochs, dropout=rate, adj_weight=0.0 if ops_only else 1.0, **base)
               for rate, ops_only in variants]  # fmt: skip
    run = start_run("dropout_ablation", {"space": args.space, "cells": len(ops), "epochs": args.epochs,
                                         "configs": [c.to_dict() for c in configs]})  # fmt: skip
    rows = []
    for (rate, ops_only), config in zip(variants, configs):
        started = time.perf_counter()
        model, history = train_model(config, ops, adj, progress=False)
        metrics = reconstruction_metrics(Pretrained(model, config), ops[held], adj[held])
        rows.append({"dropout": rate, "loss": "operations only" if ops_only else "operations + edges",
                     **{k: metrics[k] for k in ("reconstruction", "operation_node_accuracy", "adj_accuracy")},
                     "final_train_loss": history[-1]["loss"], "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    run.save_table(table, "dropout_ablation", floatfmt=".2f")
    print(table.to_markdown(index=False, floatfmt=".2f"))
    print(f"saved in {run.path}")
    return table


if __name__ == "__main__":
    main()
