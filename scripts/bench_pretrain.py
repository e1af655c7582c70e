"""Pretraining throughput of arch2vec: cells per second, seconds per epoch, peak memory.

Usage::

    python scripts/bench_pretrain.py                      # NB201 (all epochs) and NB101 (one epoch), CPU
    python scripts/bench_pretrain.py --spaces nb201 --epochs 10 --threads 2
    python scripts/bench_pretrain.py --device cuda

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,nb101", help="comma-separated spaces (nb201, nb101, nbgraph, darts)")
    parser.add_argument("--epochs", type=str, default="nb201=10,nb101=1,nbgraph=10,darts=1",
                        help="epochs per space, e.g. 'nb201=10,nb101=1', or one number for all")  # fmt: skip
    parser.add_argument("--device", default=None, help="cpu / cuda (default: automatic)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--darts-cells", type=int, default=60_000, help="DARTS cells to sample for the benchmark")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
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
