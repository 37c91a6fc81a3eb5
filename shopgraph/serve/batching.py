"""Encode the query texts of concurrent searches together, on one thread.

Encoding one short query costs almost as much as encoding eight: the model's fixed cost per call
dominates. Under load, requests that arrive while the model is busy wait in a queue, and the next
model call takes all the waiting single-text queries at once (up to max_batch). A lone request never
waits for company: if the model is idle its text is encoded at once.

Every call of the wrapped encoder, query or not (an ingest's batches too), is made by the one worker
thread, so the model and its fast tokenizer, which refuses concurrent use, never run on two threads at
the same time. Calls other than one text are run by the worker on their own, in arrival order.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

import numpy as np

log = logging.getLogger(__name__)


class BatchingTextEncoder:
    """Wraps a TextEncoder: every encode() runs on the worker thread; concurrent encode([one text])
    calls share one model call. Other attributes (dim, model_id, ...) are the wrapped encoder's.
    After close(), calls go straight to the wrapped encoder."""

    def __init__(self, encoder, max_batch: int = 32):
        self.wrapped = encoder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._worker.start()

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not self._worker.is_alive() or threading.current_thread() is self._worker:
            return self.wrapped.encode(texts, progress=progress)
        future: Future = Future()
        self._queue.put((texts, progress, future))
        return future.result()

    def close(self) -> None:
        """Stop the worker (calls after this go straight to the wrapped encoder)."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    @staticmethod
    def _single(item) -> bool:
        texts, progress, _ = item
        return not progress and isinstance(texts, list) and len(texts) == 1 and isinstance(texts[0], str)

    def _run(self) -> None:
        held = None  # a call taken from the queue while gathering singles, run next
        while True:
            first = held if held is not None else self._queue.get()
            held = None
            if first is None:
                return
            if not self._single(first):
                self._call(first[0], first[1], [first[2]], whole=True)
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None or not self._single(item):  # closing, or a call of its own: after this batch
                    held = item
                    break
                batch.append(item)
            self._call([item[0][0] for item in batch], False, [item[2] for item in batch], whole=False)

    def _call(self, texts, progress: bool, futures: list[Future], whole: bool) -> None:
        """Encode texts; whole: the one future gets the whole matrix, else each future its row."""
        try:
            vectors = self.wrapped.encode(texts, progress=progress)
        except BaseException as e:  # each waiting caller gets the error, the worker lives on
            for future in futures:
                future.set_exception(e)
            return
        if whole:
            futures[0].set_result(vectors)
        else:
            for future, vector in zip(futures, vectors):
                future.set_result(vector[None])
