"""Pretraining throughput of arch2vec: cells per second, seconds per epoch, peak memory.

Usage::

    python scripts/bench_pretrain.py                      # NB201 (all epochs) and NB101 (one epoch), CPU
    python scripts/bench_pretrain.py --spaces nb201 --epochs 10 --threads 2
    python scripts/bench_pretrain.py --device cuda
    python scripts/bench_pretrain.py --side-by-side --threads 1 --steps 200 --rounds 2   # original vs ours, A B C D…

``--side-by-side`` times the same ``--steps`` training steps at batch 32 on
NB201's first training cells, in one process, interleaved round by round:
(A) the authors' loop re-expressed in :mod:`lib.arch2vec.reference` (in
training mode in round 1, in eval mode after, as the original: it never calls
``model.train()`` again after its per-epoch validity check), (B) this
project's :func:`lib.latent.train.fit` (what pretraining ran before), (B2)
:func:`lib.latent.train.fit_lean` (what :func:`lib.arch2vec.train.train_model`
runs now: the same model bit for bit), (C) :func:`lib.latent.grouped.fit_grouped` with one seed and (D) with
``--group`` seeds at once, and (F) the floor no implementation of these
layers in float32 gets under: only the step's 24 dense 256×128×128 products
(8 hidden linears, forward and two backward products each). It prints
seconds, model-cells/s (cells × models per second) and each run's ratio to
(A) in the same round.

Nothing is cached: each space is trained from scratch with the paper's
settings (``--epochs`` overrides the number of epochs, e.g. 1 to project a
long NB101 run). Peak memory is the process's maximum resident set size
(and CUDA's peak allocation on a GPU). The machine's load average is printed
because other processes on the same cores slow the numbers down.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from lib.arch2vec import default_config, pick_device, space_tensors  # noqa: E402
from lib.arch2vec.train import split_indices, train_model  # noqa: E402
from lib.results import code_version  # noqa: E402


def side_by_side(steps: int, rounds: int, group: int) -> None:
    """The interleaved A/B/C/D timing described in the module docstring."""
    from lib.arch2vec.model import Arch2Vec, vae_loss
    from lib.arch2vec.reference import ReferenceTrainer
    from lib.latent.grouped import fit_grouped
    from lib.latent.train import fit, fit_lean
    from lib.latent.vae import dense_vae_tensors, vae_loss_dense

    config = default_config("nb201")
    ops, adj = space_tensors(config)
    train_idx, _ = split_indices(len(ops), config)
    index = torch.as_tensor(train_idx)[: steps * config.batch_size]
    ops, adj = ops[index], adj[index]
    cells = len(ops)
    reference = ReferenceTrainer(ops, adj, hidden_dim=config.hidden_dim, latent_dim=config.latent_dim,
                                 num_layers=config.num_layers, dropout=config.dropout, seed=config.seed,
                                 batch_size=config.batch_size)  # fmt: skip
    factory = lambda: Arch2Vec(ops.shape[-1], config)  # noqa: E731
    common = dict(epochs=1, batch_size=config.batch_size, lr=config.lr, grad_clip=config.grad_clip, device="cpu")

    def timed(run) -> float:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    def gemm_floor() -> None:
        # the step's dense products alone: 8 hidden linears over 32·8 rows, forward + two backward products each
        x, w = torch.randn(config.batch_size * ops.shape[1], config.hidden_dim), torch.randn(config.hidden_dim, config.hidden_dim)
        for _ in range(steps):
            for _ in range(8 * 3):
                torch.mm(x, w)

    runs = {"A original": (1, None), "B fit": (1, lambda: fit(factory, (ops, adj), vae_loss, seed=0, **common)),
            "B2 fit_lean": (1, lambda: fit_lean(factory, dense_vae_tensors(ops, adj), vae_loss_dense, seed=0, **common)),
            "C grouped K=1": (1, lambda: fit_grouped(factory, (ops, adj), [0], **common)),
            f"D grouped K={group}": (group, lambda: fit_grouped(factory, (ops, adj), list(range(group)), **common)),
            "F GEMM floor": (1, gemm_floor)}  # fmt: skip
    print(f"{cells} cells = {steps} steps of {config.batch_size} per run")
    print(f"{'round':>5} {'run':16} {'mode':5} {'models':>6} {'s':>7} {'model-cells/s':>13} {'ratio to A':>10} {'load':>5}")
    ratios: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        base = None
        for name, (models, run) in runs.items():
            if run is None:
                out = reference.epoch()
                seconds, mode = out["seconds"], "train" if out["train_mode"] else "eval"
            else:
                seconds, mode = timed(run), "train"
            rate = models * cells / seconds
            base = base or rate
            ratios[name].append(rate / base)
            print(f"{r + 1:5d} {name:16} {mode:5} {models:6d} {seconds:7.2f} {rate:13.0f} {rate / base:10.2f} "
                  f"{os.getloadavg()[0]:5.2f}", flush=True)  # fmt: skip
    for name, values in ratios.items():
        print(f"ratio to A, {name:16}: " + ", ".join(f"{v:.2f}" for v in values))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,nb101", help="comma-separated spaces (nb201, nb101, nbgraph, darts)")
    parser.add_argument("--epochs", type=str, default="nb201=10,nb101=1,nbgraph=10,darts=1",
                        help="epochs per space, e.g. 'nb201=10,nb101=1', or one number for all")  # fmt: skip
    parser.add_argument("--device", default=None, help="cpu / cuda (default: automatic)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--darts-cells", type=int, default=60_000, help="DARTS cells to sample for the benchmark")
    parser.add_argument("--side-by-side", action="store_true",
                        help="time the original training loop against ours, interleaved, in this process")
    parser.add_argument("--steps", type=int, default=200, help="--side-by-side: training steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="--side-by-side: interleaved rounds")
    parser.add_argument("--group", type=int, default=3, help="--side-by-side: seeds trained at once by run D")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.side_by_side:
        print(f"code {code_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
              f"cpu cores {os.cpu_count()}, load average at the start {os.getloadavg()}")  # fmt: skip
        side_by_side(args.steps, args.rounds, args.group)
        print(f"load average at the end {os.getloadavg()}")
        return
    device = pick_device(args.device)
    if args.epochs.isdigit():
        epochs = {s: int(args.epochs) for s in args.spaces.split(",")}
    else:
        epochs = {k: int(v) for k, v in (item.split("=") for item in args.epochs.split(","))}
    print(f"code {code_version()}, torch {torch.__version__}, device {device}, torch threads {torch.get_num_threads()}, "
          f"cpu cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'space':8} {'cells':>8} {'epochs':>6} {'s/epoch':>8} {'cells/s':>8} {'total s':>8} {'loss':>7} {'peak RSS MiB':>12}")
    for space in args.spaces.split(","):
        overrides = {"epochs": epochs.get(space, 1)}
        if space == "darts":
            overrides["num_cells"] = args.darts_cells
        config = default_config(space, **overrides)
        ops, adj = space_tensors(config)
        train_idx, _ = split_indices(len(ops), config)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        _, history = train_model(config, ops, adj, device=device, progress=False)
        total = time.perf_counter() - start
        per_epoch = sum(h["seconds"] for h in history) / len(history)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        line = (f"{space:8} {len(train_idx):8d} {config.epochs:6d} {per_epoch:8.1f} {len(train_idx) / per_epoch:8.0f} "
                f"{total:8.1f} {history[-1]['loss']:7.4f} {rss:12.0f}")  # fmt: skip
        if device.type == "cuda":
            line += f"  (CUDA peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB)"
        print(line, flush=True)
        full = default_config(space)
        scale = (full.num_cells or len(ops)) / len(ops)  # DARTS: the benchmark samples fewer cells than the paper
        if config.epochs != full.epochs or scale != 1:
            cells = f" and {full.num_cells:,} cells" if scale != 1 else ""
            print(f"{'':8} projected for the paper's {full.epochs} epochs{cells}: {per_epoch * full.epochs * scale / 60:.1f} min")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
