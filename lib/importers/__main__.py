"""Command line: convert official benchmark files into the study's tables.

    python -m lib.importers nbgraph                # from the installed nas-bench-graph package
    python -m lib.importers nb201 PATH             # NAS-Bench-201 .pth or NATS-tss simple folder
    python -m lib.importers nb101 PATH             # nasbench_only108.tfrecord (no TensorFlow needed)

Tables are written under the writable data folder (``data/`` or
``$LATENT_NAS_DATA``) and read from there by every notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib.errors import StudyError
from lib.paths import writable_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.importers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("benchmark", choices=["nbgraph", "nb201", "nb101"])
    parser.add_argument("path", nargs="?", help="official file or folder (not needed for nbgraph)")
    parser.add_argument("--out", help="output Parquet file (default: under the data folder)")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the output already exists")
    args = parser.parse_args(argv)
    defaults = {"nbgraph": "nbgraph/nbgraph.parquet", "nb201": "nb201/nb201_cells.parquet",
                "nb101": "nb101/nb101_metrics.parquet"}  # fmt: skip
    out = Path(args.out) if args.out else writable_data_dir() / defaults[args.benchmark]
    if args.if_missing and out.exists():
        print(f"{out} exists; nothing to do")
        return 0
    if args.benchmark != "nbgraph" and not args.path:
        parser.error(f"{args.benchmark} needs the path of the official file")
    try:
        if args.benchmark == "nbgraph":
            from lib.importers.nbgraph import import_nbgraph

            table = import_nbgraph(args.path, out)
        elif args.benchmark == "nb201":
            from lib.importers.nb201 import import_nb201_official

            table = import_nb201_official(args.path, out)
        else:
            from lib.importers.nb101 import import_nb101_tfrecord

            table = import_nb101_tfrecord(args.path, out)
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(table):,} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
