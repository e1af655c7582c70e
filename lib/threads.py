"""Torch's intra-op thread count, set for a block of code.

CPU training in torch is deterministic for a seed *and a thread count*: the
same model trained with 1 and with 2 threads differs in the last bits, which
grow over epochs. Everything that must give the same model wherever it runs
(pretraining in a sweep's parent or in a worker, a notebook, a test) trains
inside ``with torch_threads(n):`` with a fixed ``n``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Runs the block with ``torch.set_num_threads(n)``, restoring the previous count after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
