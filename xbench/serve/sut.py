"""Systems under test: what LoadGen calls with each query's samples.

A SUT runs a ``RunBatch``: QSL sample indices -> each sample's class (an accuracy run) or None (a performance
run, whose responses carry no data). ``Inline`` runs every query in the thread LoadGen calls it from (the one
that started the test), in batches of at most ``max_batch``; ``Batcher`` is a dynamic batcher: queries go to a
queue and one worker thread closes a batch at ``max_batch`` samples or ``max_wait_s`` after its first sample,
whichever comes first. ``noop`` answers at once:
run under the same settings it measures what LoadGen, its Python binding and the SUT add on their own.

``prepared_calls`` makes the RunBatch of a performance run from the factory's prepared callables (one per batch
size, ``xbench.bench.cases.prepare``): n samples run the smallest prepared batch >= n (padded), more than the
largest run several calls. Those callables hold their own batch of test images: in a performance run LoadGen's
sample indices choose nothing, the call is the one the suite times. ``predicting`` makes an accuracy run's
RunBatch, which does run the samples LoadGen asked for.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from typing import Callable

import numpy as np

RunBatch = Callable[[list[int]], "np.ndarray | None"]


def noop(indices: list[int]) -> None:
    return None


def prepared_calls(calls: dict[int, Callable[[], object]]) -> RunBatch:
    sizes = sorted(calls)

    def run(indices: list[int]) -> None:
        n = len(indices)
        while n > 0:
            b = sizes[min(bisect.bisect_left(sizes, n), len(sizes) - 1)]
            calls[b]()
            n -= b
        return None

    return run


def predicting(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> RunBatch:
    """``predict``: images (N, H, W, C) -> class scores; the RunBatch answers each sample's class."""
    def run(indices: list[int]) -> np.ndarray:
        return np.asarray(predict(images[indices])).argmax(axis=1).astype(np.int32)

    return run


def _complete(samples, classes) -> None:
    import mlperf_loadgen as lg

    if classes is None:
        responses = [lg.QuerySampleResponse(s.id, 0, 0) for s in samples]
    else:
        classes = np.ascontiguousarray(classes, dtype=np.int32)  # alive until LoadGen has copied it
        base, size = classes.ctypes.data, classes.itemsize
        responses = [lg.QuerySampleResponse(s.id, base + i * size, size) for i, s in enumerate(samples)]
    lg.QuerySamplesComplete(responses)


class Inline:
    """Each query run where LoadGen issues it, in batches of at most ``max_batch`` samples."""

    def __init__(self, run_batch: RunBatch, max_batch: int = 1):
        self.run_batch, self.max_batch = run_batch, max_batch
        self.call_s: list[float] = []  # seconds of each RunBatch call: the model's share of a query

    def issue(self, samples) -> None:
        for i in range(0, len(samples), self.max_batch):
            chunk = samples[i:i + self.max_batch]
            t0 = time.perf_counter()
            classes = self.run_batch([s.index for s in chunk])
            self.call_s.append(time.perf_counter() - t0)
            _complete(chunk, classes)

    def flush(self) -> None:
        pass

    def describe(self) -> dict:
        return {"kind": "inline", "max_batch": self.max_batch,
                "what": "each query runs in the thread LoadGen calls the SUT from (the one that started the "
                        "test), in batches of at most max_batch samples"}

    def close(self) -> None:
        pass


class Batcher:
    """A dynamic batcher: one worker thread closes a batch at ``max_batch`` samples or ``max_wait_s`` after its
    first sample arrived."""

    def __init__(self, run_batch: RunBatch, max_batch: int, max_wait_s: float):
        self.run_batch, self.max_batch, self.max_wait_s = run_batch, max_batch, max_wait_s
        self.call_s: list[float] = []
        self.sizes: list[int] = []  # samples per batch run
        self._queue: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="xbench-batcher", daemon=True)
        self._worker.start()

    def issue(self, samples) -> None:
        for s in samples:
            self._queue.put(s)

    def flush(self) -> None:
        pass

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            t0 = time.perf_counter()
            classes = self.run_batch([s.index for s in batch])
            self.call_s.append(time.perf_counter() - t0)
            self.sizes.append(len(batch))
            _complete(batch, classes)

    def describe(self) -> dict:
        sizes = self.sizes
        return {"kind": "dynamic batcher", "max_batch": self.max_batch, "max_wait_s": self.max_wait_s,
                "batches": len(sizes), "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else None,
                "what": "one worker thread; a batch closes at max_batch samples or max_wait_s after its first"}

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)
