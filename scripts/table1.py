"""The paper's Table 1 for every space: held-out reconstruction, validity and uniqueness of arch2vec.

Usage::

    python scripts/table1.py                              # nb101, nb201, nbgraph, darts
    python scripts/table1.py --spaces nb201 --ablations nb201   # with the GAE / VGAE / no-KL rows
    python scripts/table1.py --spaces darts --device cuda
    python scripts/table1.py --spaces nb201,nbgraph --pretrain-seeds 0,1,2   # mean ± std over pretraining seeds

Each space's model is pretrained with its default configuration
(:func:`lib.arch2vec.default_config`) or loaded from the checkpoint cache;
full-size pretraining on CPU takes minutes (NB201) to tens of minutes
(NB101, DARTS). The table, the configurations and the code version go to
``results/table1/``; the paper's arch2vec row is printed alongside.

``validity_authors`` / ``uniqueness_authors`` follow the authors' scripts
(their validity check, distinct decoded graphs among the samples that pass
it) and line up with the paper's columns; ``validity`` /
``unique_architectures`` are this study's strict figures (a cell of the
space; distinct architectures), and ``uniqueness_ceiling`` is what uniform
sampling of the space's cells would give for as many valid samples.
The paper's reconstruction is a per-entry accuracy (our ``ops_accuracy`` and
``adj_accuracy``); our ``reconstruction`` asks for the whole cell.

``--pretrain-seeds 0,1,2`` evaluates the arch2vec row of each space once per
pretraining seed, with the very models the searches' ``pretrain_seed``
hyper-parameter loads (:func:`lib.arch2vec.train.pretrain_replicate`: seed 0 is
the default model, seeds 1 and 2 one grouped training), and adds
``table1_seeds`` (mean ± std over the seeds; each seed's model is evaluated on
its own held-out split where the split is shuffled). The ablation rows stay one
training each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lib.arch2vec import PAPER_TABLE1, default_config, space_tensors  # noqa: E402
from lib.arch2vec.metrics import table1_row  # noqa: E402
from lib.arch2vec.train import pretrain_replicate, state_digest  # noqa: E402
from lib.config import parse_int_list  # noqa: E402
from lib.replicates import mean_std_text  # noqa: E402
from lib.results import start_run  # noqa: E402

SPACES = ("nb101", "nb201", "nbgraph", "darts")
ABLATIONS = {"arch2vec w/o KL": {"variational": False}, "VGAE": {"encoder": "gcn"},
             "GAE": {"encoder": "gcn", "variational": False}}  # fmt: skip
COLUMNS = ["model", "space", "pretrain_seed", "reconstruction", "ops_accuracy", "operation_node_accuracy", "adj_accuracy", "validity_authors", "uniqueness_authors",
           "validity", "unique_architectures", "uniqueness_ceiling", "num_cells", "pretrain_s", "cached", "config_hash", "digest", "trainer", "torch_threads", "trained_at"]  # fmt: skip
METRICS = COLUMNS[3:12]
"""The Table-1 figures averaged over pretraining seeds."""
DARTS_CELLS = 180 * 49**4
"""Distinct DARTS cells: per intermediate node k = 0..3, C(k + 2, 2) input pairs × 7² operations."""


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default=",".join(SPACES), help=f"comma-separated, from {', '.join(SPACES)}")
    parser.add_argument("--ablations", default="", metavar="SPACES",
                        help="spaces that also get the GAE / VGAE / no-KL rows (comma separated, or 'all')")
    parser.add_argument("--samples", type=int, default=10_000, help="latent samples for validity (paper: 10,000)")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: automatic)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--pretrain-seeds", default="0", metavar="SEEDS",
                        help="pretraining seeds of the arch2vec rows, e.g. 0,1,2 (the searches' pretrain_seed; "
                             "default 0: the default model only)")
    args = parser.parse_args(argv)
    try:
        pretrain_seeds = parse_int_list(args.pretrain_seeds, name="--pretrain-seeds", min=0)
    except ValueError as exc:
        parser.error(str(exc))
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    unknown = sorted(set(spaces) - set(SPACES))
    if unknown:
        parser.error(f"unknown space(s) {unknown}; choose from {', '.join(SPACES)}")
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    if pretrain_seeds != [0] and "darts" in spaces:
        parser.error("--pretrain-seeds: DARTS samples its pretraining cells with the seed, so its seeds cannot be "
                     "trained as one group; leave darts out of --spaces or use --pretrain-seeds 0")
    ablated = spaces if args.ablations == "all" else [s.strip() for s in args.ablations.split(",") if s.strip()]
    if sorted(set(ablated) - set(spaces)):
        parser.error(f"--ablations names space(s) {sorted(set(ablated) - set(spaces))} that are not in --spaces")
    configs = {}
    for space in spaces:
        for name, overrides in {"arch2vec": {}, **(ABLATIONS if space in ablated else {})}.items():
            configs[(space, name)] = default_config(space, **overrides)
    run = start_run("table1", {"spaces": spaces, "samples": args.samples, "device": args.device or "auto",
                               "pretrain_seeds": pretrain_seeds,
                               "configs": {f"{s}/{n}": c.to_dict() for (s, n), c in configs.items()}})  # fmt: skip
    rows = []
    for (space, name), config in configs.items():
        ops, adj = space_tensors(config)
        for seed in pretrain_seeds if name == "arch2vec" else [0]:
            started = time.perf_counter()
            pre = pretrain_replicate(config, seed, device=args.device)
            seconds = time.perf_counter() - started
            # every space but DARTS is pretrained on all its cells, so len(ops) is its size
            row = table1_row(pre, ops, adj, args.samples, space_size=DARTS_CELLS if space == "darts" else None)
            row |= {"pretrain_seed": seed, "pretrain_s": round(seconds, 1), "cached": pre.from_cache,
                    "config_hash": pre.config.config_hash(), "digest": state_digest(pre.model),
                    "trainer": pre.provenance.get("trainer", "alone"),
                    "torch_threads": pre.provenance.get("torch_threads"),
                    "trained_at": pre.provenance.get("code_version")}  # fmt: skip
            rows.append(row)
            print(f"{space} {name} seed {seed}: " + ", ".join(f"{k} {row[k]:.2f}" for k in METRICS), flush=True)
    table = pd.DataFrame(rows)[COLUMNS]
    if len(pretrain_seeds) > 1:
        seeds_table = mean_std_text(table[table["model"] == "arch2vec"], ["space", "model"], METRICS, "pretrain_seed")
        run.save_table(seeds_table, "table1_seeds")
        print(seeds_table.to_markdown(index=False))
    paper = pd.DataFrame([{"model": "arch2vec (paper)", "space": s, "reconstruction": r, "validity_authors": v,
                           "uniqueness_authors": u}
                          for s, (r, v, u) in PAPER_TABLE1.items() if s in spaces])  # fmt: skip
    table = pd.concat([table, paper], ignore_index=True)
    table["pretrain_seed"] = table["pretrain_seed"].astype("Int64")  # the paper's rows have none
    run.save_table(table, "table1", floatfmt=".2f")
    print(table.to_markdown(index=False, floatfmt=".2f"))
    print(f"saved in {run.path}")
    return table


if __name__ == "__main__":
    main()
