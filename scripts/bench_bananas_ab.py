"""BANANAS before/after its foreach-Adam change, interleaved in one process, with the queried keys compared.

    python scripts/bench_bananas_ab.py --budget 200 --seed 0 --rounds 1

(A) ``MLPEnsemble`` with torch's per-parameter Adam loop (the code before
210c6e8, patched in here), (B) the current ``foreach=True``; both must query
exactly the keys recorded in ``tests/data/search_trajectories.json`` (its
first ``--budget`` keys for the seed, when recorded). Prints seconds per run,
the ratio A/B, load average, threads and code version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from lib.benchmark import load_benchmark  # noqa: E402
from lib.results import code_version  # noqa: E402
from lib.search import run_search  # noqa: E402

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "data" / "search_trajectories.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"code {code_version()}, torch threads {torch.get_num_threads()}, load at the start {os.getloadavg()}")
    recorded = next((r["keys"] for r in json.loads(RECORDED.read_text())["runs"]
                     if r["method"] == "bananas" and r["seed"] == args.seed and r["budget"] >= args.budget), None)  # fmt: skip
    bench = load_benchmark("nb201", "cifar10")
    run_search(bench, "bananas", 5, 0)
    adam = torch.optim.Adam

    def per_parameter_adam(params, lr, foreach=None):
        return adam(params, lr=lr)

    for r in range(args.rounds):
        for name, patch in (("A per-parameter Adam", per_parameter_adam), ("B foreach Adam", adam)):
            torch.optim.Adam = patch
            try:
                start = time.perf_counter()
                keys = list(run_search(bench, "bananas", args.budget, args.seed).keys)
                seconds = time.perf_counter() - start
            finally:
                torch.optim.Adam = adam
            same = "not recorded" if recorded is None else keys == recorded[: args.budget]
            print(f"round {r + 1} {name:22} {seconds:7.2f} s  same keys as recorded: {same}  load {os.getloadavg()[0]:.2f}",
                  flush=True)  # fmt: skip
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
