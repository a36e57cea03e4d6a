"""Group commit: many callers' units of work in one write transaction, one commit for all.

Every immediate provision writes the hash-chained audit log (one head row) and its month's
counter (one row), so two provisions' transactions serialise on those row locks until the
first commits: on PostgreSQL each commit waits for its WAL flush (milliseconds on ordinary
disks), which would cap a national center at one provision per flush. A :class:`GroupCommitter`
runs one writer thread; callers queue their items and wait; the writer takes whatever has
queued (up to ``max_batch``) and hands the whole batch to ``process``, which does all of it in
one transaction. Nothing is answered before that transaction has committed, and each item's
writes commit or vanish with its batch. There is no waiting to fill a batch: a batch is what
queued while the previous one ran, so a lone caller is served at once.

``process`` returns one outcome per item (a value, or an exception that caller gets). When
it raises instead (a database error), the batch is tried again one item per transaction, so
one item's failure reaches only its own caller.

The writer thread stops after ``idle`` seconds without work and starts again on demand.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from jukinet.ops.logging import get_logger

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH: Final = 64
IDLE_SECONDS: Final = 5.0

log = get_logger("jukinet.group_commit")


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    future: Future[R] | asyncio.Future[R]
    loop: asyncio.AbstractEventLoop | None = None
    """The event loop of an asyncio caller (its future is settled there)."""


class GroupCommitter(Generic[T, R]):
    """Runs ``process`` over batches of queued items in one writer thread."""

    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        name: str,
        max_batch: int = MAX_BATCH,
        idle: float = IDLE_SECONDS,
    ) -> None:
        self._process = process
        self._name = name
        self._max_batch = max_batch
        self._idle = idle
        self._queue: queue.SimpleQueue[_Waiting[T, R]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def run(self, item: T) -> R:
        """Queue ``item`` and wait (without blocking the event loop) until its batch has
        committed: its outcome, or the exception meant for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._put(_Waiting(item, future, loop))
        return await future

    def call(self, item: T) -> R:
        """Queue ``item`` and block until its outcome."""
        future: Future[R] = Future()
        self._put(_Waiting(item, future))
        return future.result()

    def _put(self, waiting: _Waiting[T, R]) -> None:
        self._queue.put(waiting)
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name=self._name, daemon=True).start()

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._complete(batch)

    def _complete(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            outcomes = self._outcomes([w.item for w in batch])
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning("group_commit_retry", batch=len(batch), error=repr(exc))
                for waiting in batch:  # one at a time: only the failing item fails
                    self._complete([waiting])
                return
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, R | BaseException]]] = {}
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.loop is None:
                assert isinstance(waiting.future, Future)
                _settle(waiting.future, outcome)
            else:
                by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
        for loop, settled in by_loop.items():  # one wake-up per event loop and batch
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                continue

    def _outcomes(self, items: list[T]) -> Sequence[R | BaseException]:
        outcomes = self._process(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"{self._name}: {len(outcomes)} outcomes for {len(items)} items")
        return outcomes


def _settle(future: Any, outcome: Any) -> None:
    if future.done():  # an asyncio caller gave up (cancelled): its outcome has no taker
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: list[tuple[Any, Any]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)
