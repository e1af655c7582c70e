"""Times ``nao_gvae`` and checks its warm start: seconds per run and per query, reconstruction of held-out cells.

    python scripts/bench_nao_gvae.py                                  # nbgraph:cora and nb201:cifar10, budget 200
    python scripts/bench_nao_gvae.py --benchmarks nbgraph:cora --seeds 0 --budget 100 --pretrain-epochs 1  # quick

1. Warm start: loads (or trains, timed) the space's cached default warm start
   (:func:`lib.nao_gvae.config.default_config`) and reports the share of
   ``--recon-cells`` random cells of the space that decode exactly back to
   themselves (greedy decoding of the posterior mean), and the validity and
   uniqueness of decoded ``N(0, I)`` prior samples.
2. Search: ``run_search(benchmark, "nao_gvae", budget, seed)`` per seed with
   the cached warm start, timed; prints seconds per run and per query and the
   mean best validation accuracy against random search.

3. Ablations (``--ablation``, in place of 1–2): the variants of ``--variants``
   (``default``; ``frozen``: ``joint=False``; ``arch2vec``: ``backbone="arch2vec"``;
   ``arch2vec_frozen``: both; ``random``) per seed, ``λ = 0``: the test accuracy of
   the best-by-validation cell at the budget, mean ± std over seeds, the
   per-round invalid / new decodings and random fill from the run record's
   ``method_stats``, seconds per run; ``--out`` writes them as JSON.

    python scripts/bench_nao_gvae.py --ablation --benchmarks nb201:cifar10 --budget 100 --seeds 0-2 --threads 1

4. ``--shift-probe``: what arch2vec's decoder makes of moved latents (why the
   ``arch2vec`` backbone rarely decodes a new cell): ``--recon-cells`` random
   cells' per-node posterior means shifted by a random vector of each radius,
   the same for every node (what a gradient step of heads on the node mean
   does) or drawn per node; the share of valid decodings and of valid ones
   that differ from the start cell.

Torch uses ``--threads`` threads (2: the study's CPU budget).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.encoding import encode_dense  # noqa: E402
from lib.results import code_version  # noqa: E402
from lib.latent.decode import decode_cells  # noqa: E402
from lib.nao_gvae.backbones import ABLATIONS  # noqa: E402
from lib.nao_gvae.search import _config  # noqa: E402
from lib.nao_gvae.train import warm_start  # noqa: E402
from lib.search import run_search  # noqa: E402
from lib.search.harness import parse_benchmark  # noqa: E402
from lib.sweep import parse_int_list  # noqa: E402


def warm_start_report(benchmark, cells: int, seed: int = 0, pretrain_epochs: int | None = None) -> dict:
    """Warm-start time (0 if cached), exact reconstruction of random cells, prior validity and uniqueness (%)."""
    space = benchmark.space
    start = time.perf_counter()
    warm = warm_start(_config(space, "cheap", pretrain_epochs, None), progress=True)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    sample = [space.sample(rng) for _ in range(cells)]
    ops, adj = encode_dense(space, sample)
    decoded = decode_cells(space, *warm.model.reconstruct(ops, adj))
    exact = np.mean([d is not None and space.key(d) == space.key(c) for d, c in zip(decoded, sample)])
    torch.manual_seed(seed)
    prior = decode_cells(space, *warm.model.decoder.generate(torch.randn(cells, warm.model.latent_dim)))
    valid = [space.key(c) for c in prior if c is not None]
    return {"config_hash": warm.config.config_hash(), "from_cache": warm.from_cache, "seconds": seconds,
            "reconstruction_%": 100 * exact, "prior_validity_%": 100 * len(valid) / cells,
            "prior_uniqueness_%": 100 * len(set(valid)) / max(len(valid), 1)}  # fmt: skip


VARIANTS = {"default": {}, **ABLATIONS, "random": None}
"""Ablation variants of ``nao_gvae`` (hyper-parameters) and the random baseline (``None``)."""


def ablation_report(bench, variants: list[str], seeds: list[int], budget: int) -> list[dict]:
    """One row per variant and seed: best test accuracy (of the best-by-validation cell), counts, seconds."""
    rows = []
    for name in variants:
        hp = VARIANTS[name]
        for seed in seeds:
            start = time.perf_counter()
            run = run_search(bench, "random" if hp is None else "nao_gvae", budget, seed, **(hp or {}))
            seconds = time.perf_counter() - start
            stats = run.metadata.get("method_stats") or {}
            rounds = stats.get("rounds", [])
            row = {"variant": name, "seed": seed, "best_test": run.best_at(budget, "test_acc"), "seconds": seconds,
                   "model_digest": (run.metadata.get("model") or {}).get("digest"),
                   "totals": stats.get("totals"),
                   "per_round_invalid_new_fill": [[r["invalid"], r["new"], r["random_fill"]] for r in rounds]}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
        part = np.asarray([r["best_test"] for r in rows if r["variant"] == name])
        print(f"{name}: best test {part.mean():.2f} ± {part.std(ddof=1) if len(part) > 1 else 0:.2f} "
              f"over {len(part)} seeds", flush=True)  # fmt: skip
    return rows


def shift_probe(benchmark, cells: int, radii=(0.1, 0.3, 1.0, 3.0, 10.0), seed: int = 0) -> list[dict]:
    """Validity and change of arch2vec decodings of shifted per-node posterior means (see the module docstring)."""
    from lib.latent.joint_heads import PooledJointVAE
    from lib.nao_gvae.backbones import load_arch2vec

    space = benchmark.space
    model = PooledJointVAE(load_arch2vec(space).model.eval(), 16)
    rng = np.random.default_rng(seed)
    sample = [space.sample(rng) for _ in range(cells)]
    z = model.embed_nodes(*encode_dense(space, sample))
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for shared in (True, False):
        for r in radii:
            d = torch.randn(len(z), 1 if shared else z.shape[1], z.shape[2], generator=generator)
            decoded = decode_cells(space, *model.generate(z + r * d / d.norm(dim=-1, keepdim=True)))
            valid = [(c, o) for c, o in zip(decoded, sample) if c is not None]
            rows.append({"shift": "same for every node" if shared else "per node", "radius": r,
                         "valid_%": 100 * len(valid) / cells,
                         "changed_valid_%": 100 * sum(space.key(c) != space.key(o) for c, o in valid) / cells})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", default="nbgraph:cora,nb201:cifar10")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--recon-cells", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="override of the warm-start epochs (the search's cost per query does not depend on it)")
    parser.add_argument("--ablation", action="store_true", help="run the ablation variants instead (see above)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=None, help="JSON file for the ablation rows")
    parser.add_argument("--shift-probe", action="store_true", help="arch2vec decodings of shifted latents (see above)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = parse_int_list(args.seeds, name="--seeds")
    if args.shift_probe:
        for spec in args.benchmarks.split(","):
            print(spec, "mean node-latent shift probe (arch2vec):")
            shift_probe(parse_benchmark(spec), args.recon_cells)
        return
    if args.ablation:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = sorted(set(variants) - set(VARIANTS))
        if unknown:
            parser.error(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
        version = code_version()  # at the start: the code that ran
        for spec in args.benchmarks.split(","):
            rows = ablation_report(parse_benchmark(spec), variants, seeds, args.budget)
            if args.out:
                Path(args.out).write_text(json.dumps({"benchmark": spec, "budget": args.budget, "seeds": seeds,
                                                      "code_version": version, "rows": rows}, indent=1))
        return
    for spec in args.benchmarks.split(","):
        bench = parse_benchmark(spec)
        print(spec, "warm start:", warm_start_report(bench, args.recon_cells, pretrain_epochs=args.pretrain_epochs), flush=True)
        times, best, rand = [], [], []
        for seed in seeds:
            start = time.perf_counter()
            hp = {} if args.pretrain_epochs is None else {"pretrain_epochs": args.pretrain_epochs}
            run = run_search(bench, "nao_gvae", args.budget, seed, **hp)
            times.append(time.perf_counter() - start)
            best.append(max(r["val_acc"] for r in run.records))
            rand.append(max(r["val_acc"] for r in run_search(bench, "random", args.budget, seed).records))
            print(f"  seed {seed}: {times[-1]:.1f} s, best val {best[-1]:.3f} (random {rand[-1]:.3f})", flush=True)
        t = np.asarray(times)
        print(f"{spec} nao_gvae budget {args.budget}, {len(seeds)} seeds, {args.threads} threads: "
              f"{t.mean():.1f} ± {t.std():.1f} s per run, {t.mean() / args.budget:.3f} s per query; "
              f"best val {np.mean(best):.3f} vs random {np.mean(rand):.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
