"""A training loop that knows nothing about the model.

It drives any `TrainingTask`: the task owns the module, cuts its training data into batches,
computes a loss per batch and validation metrics per epoch. The trainer seeds every random source,
runs the optimiser, keeps the weights of the best validation epoch (early stopping after `patience`
epochs without improvement), records the history and reports progress.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np


class TrainingTask(Protocol):
    """What the trainer needs. `monitor` names the validation metric to maximise. A task may also
    have `work`: rows times width of its typical operation, from which the trainer picks its torch
    threads (shopgraph/gnn/threads.py)."""

    module: Any  # torch.nn.Module
    monitor: str

    def batches(self, generator) -> Iterable[Any]:
        """One epoch of training batches; `generator` is a seeded torch.Generator."""

    def loss(self, batch) -> Any:
        """Scalar loss tensor of one batch (the module is in train mode)."""

    def validate(self) -> dict[str, float]:
        """Validation metrics (the module is in eval mode, gradients off); must include `monitor`."""


@dataclass
class History:
    """Per-epoch records ({"epoch", "loss", "seconds", **validation metrics}), the best epoch and its
    metrics, whether training stopped early, and the total wall time in seconds."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "best_metrics": self.best_metrics,
                "stopped_early": self.stopped_early, "seconds": self.seconds}


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Trainer:
    """AdamW with the given learning rate and weight decay; `max_epochs` epochs at most;
    `grad_clip` caps the gradient norm (None: no cap). Validation runs every `validate_every` epochs
    (and after the last); `patience` counts validations without improvement. `on_epoch(record)` is
    called after each validated epoch."""

    max_epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    seed: int = 0
    grad_clip: float | None = 5.0
    validate_every: int = 1
    max_seconds: float | None = None  # stop after the first validation past this wall time
    # torch threads for the run: a positive count, or 0 = auto from the task's `work` (one thread for
    # small work, else torch's own count; a task without `work` keeps torch's count)
    threads: int = 0
    progress: bool = False
    description: str = "train"
    on_epoch: Callable[[dict], None] | None = None

    def fit(self, task: TrainingTask) -> History:
        from shopgraph.gnn.threads import torch_threads, training_threads

        with torch_threads(training_threads(self.threads, getattr(task, "work", None))):
            return self._fit(task)

    def _fit(self, task: TrainingTask) -> History:
        import torch
        from tqdm.auto import tqdm

        seed_everything(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        module = task.module
        parameters = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=self.lr, weight_decay=self.weight_decay)
        history = History()
        best_score, best_state, waited = -float("inf"), None, 0
        started = time.perf_counter()
        bar = tqdm(range(1, self.max_epochs + 1), desc=self.description, unit="epoch", disable=not self.progress)
        for epoch in bar:
            epoch_start = time.perf_counter()
            module.train()
            total, count = 0.0, 0
            for batch in task.batches(generator):
                optimizer.zero_grad(set_to_none=True)
                loss = task.loss(batch)
                loss.backward()
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, self.grad_clip)
                optimizer.step()
                total, count = total + float(loss.detach()), count + 1
            if epoch % self.validate_every and epoch != self.max_epochs:
                continue
            module.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in task.validate().items()}
            if task.monitor not in metrics:
                raise KeyError(f"validation metrics {sorted(metrics)} lack the monitored {task.monitor!r}")
            record = {"epoch": epoch, "loss": total / max(count, 1), **metrics,
                      "seconds": time.perf_counter() - epoch_start}
            history.epochs.append(record)
            bar.set_postfix({"loss": f"{record['loss']:.4f}", task.monitor: f"{metrics[task.monitor]:.4f}"})
            if self.on_epoch is not None:
                self.on_epoch(record)
            if metrics[task.monitor] > best_score:
                best_score, waited = metrics[task.monitor], 0
                best_state = copy.deepcopy(module.state_dict())
                history.best_epoch, history.best_metrics = epoch, metrics
            else:
                waited += 1
                if waited >= self.patience:
                    history.stopped_early = True
                    break
            if self.max_seconds is not None and time.perf_counter() - started > self.max_seconds:
                history.stopped_early = True
                break
        bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        history.seconds = time.perf_counter() - started
        return history
