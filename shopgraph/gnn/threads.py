"""How many CPU threads a training run's torch operations use.

torch splits every operation over all cores (two here) with OpenMP. On a small graph the operations
are tiny (a few thousand edges, 128 wide): each parallel region then costs more in waking the second
thread and waiting for it than it saves, and on a shared machine, where the other core is often
busy, a region waits for that thread's next time slice. Measured on the 240-product demo at load
about 10 (2 cores): one GAT training step 1.7 s on 2 threads, 0.23 s on 1; an alignment epoch
likewise (docs/benchmarks.md, bench/train_speed.py). So work below SMALL_WORK runs on one thread,
and larger graphs keep torch's own setting, where splitting an operation pays off on a quiet
machine.

The count depends only on the setting and the size of the work, never on the machine's load: a
run's floating-point sums (and so its vectors) do not change from one run to the next.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

# Rows times width of a training run's largest operations (a relation's edges, or a batch) below
# which one thread is faster; see bench/train_speed.py's thread sweep.
SMALL_WORK = 4_000_000


def training_threads(setting: int, work: int | None) -> int:
    """Threads for a run: `setting` when positive (config align.threads / gnn.threads, Trainer.threads),
    else (0, auto) 1 when `work` (rows x width of the run's typical operation) is below SMALL_WORK,
    else 0 = leave torch's count as it is (also when the work is not known: None)."""
    if setting < 0:
        from shopgraph.errors import ConfigError

        raise ConfigError(f"threads must be 0 (auto) or a positive count, got {setting}")
    if setting > 0:
        return setting
    return 1 if work is not None and work < SMALL_WORK else 0


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to n (0: unchanged) inside the block, put back after, so a
    process that trains in passing (a test, a notebook, the server) keeps its own setting."""
    import torch

    before = torch.get_num_threads()
    if n > 0 and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
