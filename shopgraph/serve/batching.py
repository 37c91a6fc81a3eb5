"""Encode the query texts of concurrent searches together.

Encoding one short query costs almost as much as encoding eight: the model's fixed cost per call
dominates. Under load, requests that arrive while the model is busy wait in a queue, and the next
model call takes all of them at once (up to max_batch). A lone request never waits for company: if
the model is idle its text is encoded at once. One worker thread makes every model call, so query
encoding never runs on several threads at the same time (fast tokenizers refuse concurrent use).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

import numpy as np

log = logging.getLogger(__name__)


class BatchingTextEncoder:
    """Wraps a TextEncoder: encode([one text]) is batched with other concurrent calls; anything else
    (ingest batches, progress bars) goes straight to the wrapped encoder. Other attributes (dim,
    model_id, ...) are the wrapped encoder's."""

    def __init__(self, encoder, max_batch: int = 32):
        self.wrapped = encoder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._worker.start()

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if (progress or isinstance(texts, str) or len(texts) != 1 or not isinstance(texts[0], str)
                or not self._worker.is_alive()):
            return self.wrapped.encode(texts, progress=progress)
        future: Future = Future()
        self._queue.put((texts[0], future))
        return future.result()[None]

    def close(self) -> None:
        """Stop the worker (calls after this go straight to the wrapped encoder)."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: finish this batch, then stop
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                vectors = self.wrapped.encode([text for text, _ in batch])
            except BaseException as e:  # each waiting request gets the error, the worker lives on
                for _, future in batch:
                    future.set_exception(e)
                continue
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)
