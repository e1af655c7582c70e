"""``python -m lib.benchmark``: register your own measurements as a benchmark, list and remove them.

    python -m lib.benchmark register my201 runs.csv --space nb201 --cell-column arch_str \\
        --val val --test test --cost latency_ms=lat [--minimise] [--nan drop|unmeasured] [--dataset NAME]
    python -m lib.benchmark list
    python -m lib.benchmark unregister my201

A registration is a small JSON descriptor under ``data/custom/`` (or
``$LATENT_NAS_DATA/custom/``) that every process reads: ``load_benchmark``,
``python -m lib.sweep --benchmark my201``, sweep workers and the notebooks.
The file is checked when it is registered; every problem is reported with
the offending rows. See :func:`lib.benchmark.register_table`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib.benchmark import NAN_POLICIES, NATIVE_PARSERS, custom_tables_dir, register_table, registered_tables, unregister_table
from lib.errors import StudyError


def _cost(text: str) -> tuple[str, str]:
    metric, sep, column = text.partition("=")
    if not sep or not metric.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"--cost expects METRIC=COLUMN, e.g. latency_ms=lat; got {text!r}")
    return metric.strip(), column.strip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m lib.benchmark``."""
    parser = argparse.ArgumentParser(prog="python -m lib.benchmark", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="{register,unregister,list}")
    reg = commands.add_parser("register", help="check a table of your measurements and register it as a benchmark")
    reg.add_argument("name", help="benchmark name (letters, digits, _ - .)")
    reg.add_argument("file", type=Path, help="the table: .csv, .csv.gz, .tsv or .parquet")
    reg.add_argument("--space", required=True, help="search space of the cells: nb201, nb101, nbgraph, darts")
    reg.add_argument("--cell-column", required=True, help="column with each cell's native form (NB201: arch string)")
    reg.add_argument("--val", required=True, dest="val_column", help="validation metric column (what searches optimise)")
    reg.add_argument("--test", dest="test_column", default=None, help="test metric column (what the study reports)")
    reg.add_argument("--cost", action="append", type=_cost, default=[], metavar="METRIC=COLUMN",
                     help="a cost metric, repeatable, e.g. latency_ms=lat")
    reg.add_argument("--minimise", "--minimize", action="store_true",
                     help="the metric is an error or a loss: lower is better (stored negated)")
    reg.add_argument("--fraction", action="store_true", help="validation/test values are fractions, not percent")
    reg.add_argument("--nan", choices=NAN_POLICIES, default=None,
                     help="missing metric values: drop the rows, or make rows without validation value unmeasured "
                          "(default: refuse)")  # fmt: skip
    reg.add_argument("--parse", choices=sorted(NATIVE_PARSERS), default=None, dest="parse_native",
                     help="parse the cell column's text first (e.g. json for NAS-Bench-Graph [[links],[ops]])")
    reg.add_argument("--dataset", default=None, help="dataset name of the benchmark (default: custom)")
    unreg = commands.add_parser("unregister", help="remove a registered table (the file itself is kept)")
    unreg.add_argument("name")
    commands.add_parser("list", help="list the registered tables")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status (errors are printed, not raised)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "register":
            replaced = args.name.strip().lower() in registered_tables(warn=True)
            bench = register_table(
                args.name, args.file, space=args.space, cell_column=args.cell_column, val_column=args.val_column,
                test_column=args.test_column, cost_columns=dict(args.cost), parse_native=args.parse_native,
                percent=not args.fraction, minimise=args.minimise, nan=args.nan, dataset=args.dataset,
            )  # fmt: skip
            best = bench.oracle()
            print(f"{'replaced' if replaced else 'registered'} {bench.name}:{bench.dataset}: {len(bench):,} "
                  f"{bench.space.name} cells, metrics {bench.metrics}; best validation cell {best['best_val_key']!r}"
                  f"{' (lowest value: stored negated)' if args.minimise else ''}")  # fmt: skip
            print(f"descriptor {custom_tables_dir() / (bench.name + '.json')}; use it with "
                  f"`python -m lib.sweep --benchmark {bench.name}` or load_benchmark({bench.name!r})")
        elif args.command == "unregister":
            if not unregister_table(args.name):
                print(f"no registered table {args.name!r} (see `python -m lib.benchmark list`)", file=sys.stderr)
                return 1
            print(f"unregistered {args.name.strip().lower()} (its table file is kept)")
        else:
            tables = registered_tables(warn=True)
            if not tables:
                print(f"no registered tables in {custom_tables_dir()}")
            for name, spec in sorted(tables.items()):
                flags = [f for f, on in (("minimise", spec.minimise), ("fraction", not spec.percent),
                                          (f"nan={spec.nan}", spec.nan)) if on]  # fmt: skip
                status = "" if Path(spec.path).is_file() else "  FILE MISSING"
                print(f"{name}:{spec.dataset}  space={spec.space}  file={spec.path}  cells={spec.cell_column}  "
                      f"val={spec.val_column}  test={spec.test_column}  costs={spec.cost_columns or {}}"
                      f"{'  ' + ' '.join(flags) if flags else ''}{status}")  # fmt: skip
    except (StudyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
