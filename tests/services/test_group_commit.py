"""The group committer: batches of what queued meanwhile, outcomes to their own callers, a
failing batch retried one item at a time, the writer thread leaving when idle."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from jukinet.services.group_commit import GroupCommitter


class Recorder:
    """A ``process`` that records its batches; ``hold`` keeps the first batch running."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.started = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        self.hold.wait(5)
        if 13 in items:
            raise RuntimeError("unlucky item in the batch")
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def test_items_queued_meanwhile_share_the_next_batch() -> None:
    process = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(process, name="t", max_batch=3)
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = committer.call(i)
        except ValueError as exc:
            results[i] = str(exc)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert process.started.wait(5)
    others = [threading.Thread(target=call, args=(i,)) for i in (2, 4, 6, 8)]
    for t in others:
        t.start()
    time.sleep(0.2)  # all four queued while the first batch runs
    process.hold.set()
    for t in [first, *others]:
        t.join(5)
    assert process.batches[0] == [0]
    assert sorted(len(b) for b in process.batches[1:]) == [1, 3]  # at most max_batch
    assert results == {0: 0, 2: 20, 4: 40, 6: 60, 8: 80}


def test_each_caller_gets_its_own_outcome_and_a_failing_batch_is_retried_alone() -> None:
    process = Recorder()
    process.hold.set()
    committer: GroupCommitter[int, int] = GroupCommitter(process, name="t")

    async def main() -> list[object]:
        return await asyncio.gather(
            *(committer.run(i) for i in (2, 3, 13, 4)), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert outcomes[0] == 20
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[2], RuntimeError)  # only the failing item's caller
    assert outcomes[3] == 40
    retried = [b for b in process.batches if len(b) == 1]
    assert [13] in retried


def test_the_writer_thread_leaves_when_idle_and_comes_back() -> None:
    process = Recorder()
    process.hold.set()
    committer: GroupCommitter[int, int] = GroupCommitter(process, name="idle-test", idle=0.1)
    assert committer.call(2) == 20
    deadline = time.monotonic() + 5
    while any(t.name == "idle-test" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the writer thread did not leave"
        time.sleep(0.05)
    assert committer.call(4) == 40
    with pytest.raises(ValueError, match="odd 5"):
        committer.call(5)
