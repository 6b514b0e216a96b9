"""BatchQueue: requests are decoded in batches by one worker thread off the event loop, with continuous batching.

A batch holds requests with the same key (decoder, AR, settings): one `decode` call, each canvas sampling with its own
generator (seeded by its request), so each output is the one the request would get alone. The queue is bounded
(`submit` raises QueueFull); a request waits at most `max_wait` seconds (since it arrived) for company to start a batch.
With a joinable decoder (dlm, fast-dllm, codila: `DecoderSpec.joinable`) the running batch is fed from the queue: at
every step boundary the requests of its key at the head of the queue join it (up to `max_batch` decoding at once; a
request of another key at the head stops the joining, so the batch drains and that request goes next), and each
request's answer is sent the step it is done (`codila.decoding.feed`). Other decoders decode static batches. A request
whose client left (`DecodeJob.cancel`) is dropped at the next step. When a batch fails with a client error (a canvas
its decoder refuses), its unfinished requests are decoded one by one, so one bad request fails alone.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from codila.decoding.canvas import Canvas
from codila.decoding.registry import DecoderSpec, decode
from codila.errors import CodilaError
from codila.models.dlm import DiffusionLM
from codila.models.local_ar import LocalAR


class QueueFull(Exception):
    pass


@dataclass(eq=False)  # a job is itself: compared by identity (its canvas holds tensors)
class DecodeJob:
    key: tuple  # requests with equal keys may share a batch
    spec: DecoderSpec
    config: object
    ar: LocalAR | None
    canvas: Canvas
    seed: int
    future: Future = field(default_factory=Future)  # the DecodeResult, or the error
    cancel: threading.Event = field(default_factory=threading.Event)  # set: drop the canvas at the next step (client gone)
    queued_at: float = field(default_factory=time.monotonic)


class BatchQueue:
    def __init__(self, dlm: DiffusionLM, max_batch: int, max_wait: float, max_queued: int):
        self.dlm, self.max_batch, self.max_wait, self.max_queued = dlm, max_batch, max_wait, max_queued
        self._pending: deque[DecodeJob] = deque()
        self._condition = threading.Condition()
        self._stopping = False
        self.batch_sizes: list[int] = []  # every batch decoded, for /health and the benchmark
        self.running: list[DecodeJob] = []  # the batch being decoded
        self.joined = 0  # requests that joined a running batch
        self.steps, self.request_steps = 0, 0  # decoding steps (of continuous batches; a static batch counts one), and
        # the sum over them of the requests decoding: their ratio is the mean batch size
        self._worker = threading.Thread(target=self._run, name="codila-decoder", daemon=True)
        self._worker.start()

    def submit(self, job: DecodeJob) -> Future:
        with self._condition:
            if len(self._pending) >= self.max_queued:
                raise QueueFull
            self._pending.append(job)
            self._condition.notify()
        return job.future

    def queued(self) -> int:
        return len(self._pending)

    def decoding(self) -> int:
        """Requests of the running batch still wanted (a dropped one leaves at the next step)."""
        return sum(not job.cancel.is_set() for job in list(self.running))

    def joining(self, key: tuple) -> list[DecodeJob]:
        """The queued requests that join the running batch of `key` now: those of its key at the head of the queue,
        while fewer than `max_batch` decode."""
        taken = []
        with self._condition:
            while self._pending and self._pending[0].key == key and len(self.running) < self.max_batch and not self._stopping:
                job = self._pending.popleft()
                if job.future.set_running_or_notify_cancel():  # a request given up on while queued is dropped
                    self.running.append(job)
                    taken.append(job)
        self.joined += len(taken)
        if self.running:  # a step is about to run with these requests
            self.steps += 1
            self.request_steps += len(self.running)
        return taken

    def finished(self, job: DecodeJob, outcome) -> None:
        """A request of the running batch is done (its DecodeResult) or refused (a CodilaError): answer it now."""
        if job in self.running:
            self.running.remove(job)
        if isinstance(outcome, Exception):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._worker.join(timeout=30)

    def _next_batch(self) -> list[DecodeJob] | None:
        with self._condition:
            while not self._pending and not self._stopping:
                self._condition.wait()
            if self._stopping:
                return None
            key, deadline = self._pending[0].key, self._pending[0].queued_at + self.max_wait  # a request waits max_wait at most
            while sum(job.key == key for job in self._pending) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self._condition.wait(timeout=left)
            batch = [job for job in self._pending if job.key == key][: self.max_batch]
            for job in batch:
                self._pending.remove(job)
        return [job for job in batch if job.future.set_running_or_notify_cancel()]  # drop requests given up on

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if batch:
                self.batch_sizes.append(len(batch))
                self.running = list(batch)
                self._decode(batch)
                self.running = []

    def _decode(self, batch: list[DecodeJob]) -> None:
        first = batch[0]
        feed = _QueueFeed(self, batch) if first.spec.joinable else None
        try:
            results = decode(
                first.spec,
                self.dlm,
                first.ar,
                [job.canvas for job in batch],
                first.config,
                [job.seed for job in batch],
                feed=feed,
            )
        except CodilaError as error:
            unfinished = [job for job in self.running if not job.future.done()]
            if len(unfinished) == 1:
                unfinished[0].future.set_exception(error)
                return
            for job in unfinished:  # find the request the decoder refused; the others still get their answers
                self._decode_alone(job)
            return
        except Exception as error:  # noqa: BLE001 (the worker must survive anything; the route answers 500)
            for job in self.running:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if feed is None:
            self.steps += 1
            self.request_steps += len(batch)
            for job, result in zip(batch, results):
                job.future.set_result(result)

    def _decode_alone(self, job: DecodeJob) -> None:
        try:
            job.future.set_result(decode(job.spec, self.dlm, job.ar, [job.canvas], job.config, [job.seed])[0])
        except Exception as error:  # noqa: BLE001
            job.future.set_exception(error)


class _QueueFeed:
    """The running batch's `codila.decoding.feed.Feed`: newcomers from the queue, answers sent as each is done."""

    def __init__(self, queue: BatchQueue, batch: list[DecodeJob]):
        self.queue, self.key, self.batch = queue, batch[0].key, batch

    def joining(self) -> list[tuple[DecodeJob, Canvas, int]]:
        return [(job, job.canvas, job.seed) for job in self.queue.joining(self.key)]

    def finished(self, handle, outcome) -> None:
        self.queue.finished(self.batch[handle] if isinstance(handle, int) else handle, outcome)
