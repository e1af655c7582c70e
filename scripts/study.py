"""The study's main job (`make study`): the sweeps on the default benchmark, then every numbered notebook, timed.

    python scripts/study.py              # every step; prints and records the time of each
    python scripts/study.py --list       # the steps and their commands, nothing run
    python scripts/study.py --only sweep-baselines,notebooks

Each step is a command run in its own process (the sweeps through
``python -m lib.sweep``, which skips runs already stored; the notebooks
through ``scripts/run_notebooks.py``, whose searches load those stored runs).
The sweeps come first so that the notebooks read them instead of searching
again (:class:`lib.search.store.StoredRuns`). A failing step stops the job
with its exit status; what earlier steps stored stays stored, so a rerun
resumes.

The timing of every step, the load average before and after it, the code
version, the torch thread setting and the machine's core count are written to
``results/study_timing.json`` (and printed as a table): that file is what the
README's figure for ``make study`` quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.paths import PROJECT_ROOT, atomic_target, results_dir  # noqa: E402
from lib.results import code_version  # noqa: E402

BENCHMARK = "nbgraph:cora"
"""The default benchmark: NAS-Bench-Graph installs from PyPI, so it runs on a fresh machine with no downloads."""

SEEDS = "0-9"
BUDGETS = "50,100,150,200"
PRETRAIN_SEEDS = "0,1,2"


def _sweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "lib.sweep", "--benchmark", BENCHMARK, "--seeds", SEEDS, "--budgets", BUDGETS,
            "--workers", "2", "--no-progress", *args]  # fmt: skip


STEPS: dict[str, list[str]] = {
    "sweep-baselines": _sweep("--methods", "random,evolution,local_search,bananas"),
    "sweep-arch2vec": _sweep("--methods", "arch2vec_bo,arch2vec_rl", "--grid", f"arch2vec_bo.pretrain_seed={PRETRAIN_SEEDS}",
                             "--grid", f"arch2vec_rl.pretrain_seed={PRETRAIN_SEEDS}"),
    "sweep-arch2vec-incumbent": _sweep("--methods", "arch2vec_bo", "--hp", 'arch2vec_bo.ei="incumbent"',
                                       "--grid", f"arch2vec_bo.pretrain_seed={PRETRAIN_SEEDS}"),
    "sweep-agnet": _sweep("--methods", "agnet"),
    "sweep-crlso": _sweep("--methods", "crlso", "--hp", "crlso.joint_cells=3000"),
    "sweep-nao_gvae": _sweep("--methods", "nao_gvae"),
    "notebooks": [sys.executable, str(PROJECT_ROOT / "scripts" / "run_notebooks.py")],
}
"""Step name → command, in the order they run."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    parser.add_argument("--only", default="", help=f"comma-separated steps to run (default all: {','.join(STEPS)})")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(STEPS)
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        parser.error(f"--only: unknown step(s) {unknown}; the steps are {list(STEPS)}")
    if args.list:
        for name in chosen:
            print(f"{name:26} {' '.join(STEPS[name])}")
        return 0
    record = {"code_version": code_version(), "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "cpu_cores": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
              "load_average_at_start": os.getloadavg(), "steps": []}  # fmt: skip
    out = results_dir() / "study_timing.json"
    started = time.perf_counter()
    status = 0
    for name in chosen:
        print(f"== {name}: {' '.join(STEPS[name])}", flush=True)
        load, t0 = os.getloadavg(), time.perf_counter()
        status = subprocess.run(STEPS[name], cwd=PROJECT_ROOT).returncode
        seconds = time.perf_counter() - t0
        record["steps"].append({"step": name, "seconds": round(seconds, 1), "exit_status": status,
                                "load_average_before": load, "load_average_after": os.getloadavg()})  # fmt: skip
        record["total_seconds"] = round(time.perf_counter() - started, 1)
        with atomic_target(out) as tmp:  # after every step: an interrupted study keeps the times it measured
            tmp.write_text(json.dumps(record, indent=2) + "\n")
        print(f"== {name}: {seconds:.0f} s (exit status {status})", flush=True)
        if status:
            break
    print(f"\n{'step':26} {'seconds':>8}")
    for step in record["steps"]:
        print(f"{step['step']:26} {step['seconds']:8.0f}")
    print(f"{'total':26} {record['total_seconds']:8.0f}  (code {record['code_version']}, {os.cpu_count()} cores, "
          f"load at start {record['load_average_at_start'][0]:.2f}); written to {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
