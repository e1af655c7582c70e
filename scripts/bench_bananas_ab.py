"""BANANAS' old and new ensemble code paths, interleaved in one process: ``bench_search_ab.py --methods bananas``.

    python scripts/bench_bananas_ab.py --budget 200 --seed 0 --rounds 1

Kept for the command the README quoted. It used to patch ``torch.optim.Adam``,
which the ensemble no longer calls, so it now runs
``scripts/bench_search_ab.py --methods bananas``: ``ref0`` is the ensemble with
torch's per-parameter Adam (this script's old "A"), ``ref`` the ``foreach``
Adam of 210c6e8–8c43ae2 (its old "B"), ``new`` the current ensemble.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_search_ab  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    bench_search_ab.main(["--methods", "bananas", "--budget", str(args.budget), "--seeds", str(args.seed),
                          "--rounds", str(args.rounds)])  # fmt: skip


if __name__ == "__main__":
    main()
