"""Old and new code paths of arch2vec_bo and BANANAS, interleaved in one process, with the queried keys compared.

    python scripts/bench_search_ab.py --methods arch2vec_bo,bananas --budget 200 --seeds 0 --rounds 1

For each method, round and seed the same run is timed with the reference
code path patched in and with the current code, alternately (reference
first in odd rounds, current first in even ones):

* ``arch2vec_bo``: ``ref`` is the search loop and DNGO of commit 8c43ae2
  (:class:`~lib.latent.predictors_reference.ReferenceDNGO` and the loop copied
  below); ``new`` is the current :class:`~lib.arch2vec.search.Arch2VecBO`.
* ``bananas``: ``ref0`` is the ensemble with torch's per-parameter Adam loop
  (the code before 210c6e8, the 20.9 s baseline of issue 13), ``ref`` the
  ensemble of 8c43ae2 (``torch.optim.Adam(foreach=True)``), ``new`` the current
  :class:`~lib.latent.predictors.MLPEnsemble`.

Every variant must query exactly the keys of the current code, and the keys
recorded in ``tests/data/search_trajectories.json`` (their first ``--budget``
keys for the seed, when that long a run was recorded; arch2vec_bo's only with
the recorded model). Each method first runs once untimed at budget 20, so
tables, the pool, the pretrained model and torch are loaded outside the timing.
Prints wall-clock and CPU seconds per run (CPU seconds are what a run costs
when other jobs share the cores), the ratios to the current code, the load
average, the threads and the code version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lib.arch2vec.search as arch2vec_search  # noqa: E402
import lib.latent.predictors as predictors  # noqa: E402
from lib.benchmark import load_benchmark  # noqa: E402
from lib.latent.acquisition import log_expected_improvement  # noqa: E402
from lib.latent.predictors_reference import ReferenceDNGO, ReferenceMLPEnsemble  # noqa: E402
from lib.results import code_version  # noqa: E402
from lib.search import run_search  # noqa: E402

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "data" / "search_trajectories.json"


def reference_arch2vec_bo_search(self, oracle, rng: np.random.Generator) -> None:
    """``Arch2VecBO.search`` as of commit 8c43ae2, with its DNGO (:class:`ReferenceDNGO`)."""
    features = arch2vec_search.pool_embeddings(oracle, epochs=self.pretrain_epochs)
    pool = oracle.pool()
    name = oracle.space.name
    batch = self.batch_size or (1 if name == "nb201" else 5)
    target = self.target if self.target is not None else arch2vec_search.FIXED_TARGET.get(name, 1.0)
    visited = np.zeros(len(pool), dtype=bool)
    chosen: list[int] = []
    observed: list[float] = []

    def evaluate(i: int) -> None:
        visited[i] = True
        result = oracle.query(pool[i])
        chosen.append(i)
        observed.append(result["val_acc"])

    for i in rng.permutation(len(pool))[: min(self.init_size, oracle.remaining)]:
        evaluate(int(i))
    unit = arch2vec_search.accuracy_unit(observed)
    while oracle.remaining > 0 and not visited.all():
        accs = np.asarray(observed) / unit
        model = ReferenceDNGO(**self.dngo, rng=rng).fit(features[chosen].astype(np.float64), accs)
        mean, var = model.predict(features.astype(np.float64))
        scale = var if self.ei_scale == "variance" else np.sqrt(var)
        best = target if self.ei == "fixed" else max(accs)
        score = log_expected_improvement(mean, scale, best)
        score[visited] = -np.inf
        for i in np.argsort(-score, kind="stable")[: min(batch, oracle.remaining)]:
            if not visited[i]:
                evaluate(int(i))


def _ensemble(foreach: bool):
    return lambda *args, **kwargs: ReferenceMLPEnsemble(*args, **kwargs, foreach=foreach)


VARIANTS = {
    "arch2vec_bo": {
        "ref": [(arch2vec_search.Arch2VecBO, "search", reference_arch2vec_bo_search)],
        "new": [],
    },
    "bananas": {
        "ref0": [(predictors, "MLPEnsemble", _ensemble(False))],
        "ref": [(predictors, "MLPEnsemble", _ensemble(True))],
        "new": [],
    },
}


def _same_model(bench, record: dict, pretrain_epochs: int | None = None) -> bool:
    """Whether a recorded run applies here: arch2vec_bo's keys only with the very model they were recorded with."""
    if "model_digest" not in record:
        return True
    from lib.arch2vec.train import config_for_space, pretrain, state_digest

    config = config_for_space(bench.space, **({} if pretrain_epochs is None else {"epochs": pretrain_epochs}))
    return state_digest(pretrain(config, progress=False).model) == record["model_digest"]


def _hyperparameters(method: str, pretrain_epochs: int | None) -> dict:
    return {"pretrain_epochs": pretrain_epochs} if pretrain_epochs is not None and method.startswith("arch2vec") else {}


def timed_run(bench, method: str, budget: int, seed: int, patches,
              pretrain_epochs: int | None = None) -> tuple[float, float, list[str]]:  # fmt: skip
    """Wall-clock and CPU seconds (this process) of one run, and its queried keys."""
    with ExitStack() as stack:
        for owner, attribute, value in patches:
            stack.enter_context(mock.patch.object(owner, attribute, value))
        start, cpu = time.perf_counter(), time.process_time()
        keys = list(run_search(bench, method, budget, seed, **_hyperparameters(method, pretrain_epochs)).keys)
        return time.perf_counter() - start, time.process_time() - cpu, keys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="nb201:cifar10")
    parser.add_argument("--methods", default="arch2vec_bo,bananas")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="arch2vec pretraining epochs (default: the paper's; fewer for a quick check of the keys)")
    args = parser.parse_args(argv)
    if args.pretrain_epochs is not None and args.pretrain_epochs < 1:
        parser.error(f"--pretrain-epochs must be at least 1, got {args.pretrain_epochs}")
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(VARIANTS))
    if unknown:
        parser.error(f"--methods: no reference code path for {unknown}; choose from {sorted(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"code {code_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, cpu cores {os.cpu_count()}, "
          f"load average at the start {os.getloadavg()}")  # fmt: skip
    print(f"{args.benchmark}, budget {args.budget}, seeds {seeds}, rounds {args.rounds}, arch2vec pretraining epochs "
          f"{args.pretrain_epochs or 'of the paper'}")
    bench = load_benchmark(*args.benchmark.split(":"))
    recorded_runs = [x for x in json.loads(RECORDED.read_text())["runs"] if _same_model(bench, x, args.pretrain_epochs)]
    for method in methods:
        run_search(bench, method, 20, 0, **_hyperparameters(method, args.pretrain_epochs))  # warm-up, untimed
    times: dict[tuple[str, str], list[float]] = {}
    cpu_times: dict[tuple[str, str], list[float]] = {}
    all_same = True
    for r in range(args.rounds):
        for seed in seeds:
            for method in methods:
                record = next((x for x in recorded_runs if x["method"] == method and x["seed"] == seed
                               and x["benchmark"] == args.benchmark and x["budget"] >= args.budget), None)  # fmt: skip
                names = list(VARIANTS[method])
                keys = {}
                for name in names if r % 2 == 0 else names[::-1]:
                    seconds, cpu, keys[name] = timed_run(bench, method, args.budget, seed, VARIANTS[method][name],
                                                       args.pretrain_epochs)  # fmt: skip
                    times.setdefault((method, name), []).append(seconds)
                    cpu_times.setdefault((method, name), []).append(cpu)
                    print(f"  round {r + 1} seed {seed} {method:12} {name:5} {seconds:8.2f} s wall {cpu:8.2f} s cpu  "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
                same = all(k == keys["new"] for k in keys.values())
                recorded = "not recorded" if record is None else keys["new"] == record["keys"][: args.budget]
                all_same &= same and recorded is not False
                print(f"  round {r + 1} seed {seed} {method:12} every variant queried the same keys: {same}; "
                      f"the same as recorded at {args.budget}: {recorded}", flush=True)  # fmt: skip
    print("wall: elapsed seconds; cpu: this process's CPU seconds (what a run costs when other jobs share the cores)")
    print(f"{'method':12} {'variant':7} {'runs':>4} {'wall s/run':>10} {'ratio':>6} {'cpu s/run':>10} "
          f"{'ms/query':>9} {'ratio':>6}")  # fmt: skip
    for method in methods:
        new, new_cpu = float(np.mean(times[(method, "new")])), float(np.mean(cpu_times[(method, "new")]))
        for name in VARIANTS[method]:
            mean, cpu = float(np.mean(times[(method, name)])), float(np.mean(cpu_times[(method, name)]))
            print(f"{method:12} {name:7} {len(times[(method, name)]):4d} {mean:10.2f} {mean / new:6.2f} {cpu:10.2f} "
                  f"{1000 * cpu / args.budget:9.2f} {cpu / new_cpu:6.2f}")  # fmt: skip
    print(f"load average at the end {os.getloadavg()}")
    print(f"all queried keys identical: {all_same}")
    if not all_same:
        sys.exit(1)


if __name__ == "__main__":
    main()
