"""What every CLI command shares: consoles, settings, engines, value parsers, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jukinet.clock import Clock, SystemClock
from jukinet.domain import reference
from jukinet.domain.eras import parse_era_date
from jukinet.domain.errors import RuleViolation
from jukinet.nodes.demo import DEMO_MUNICIPALITIES
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded, hosted_municipalities
from jukinet.settings import Settings

# A terminal sizes the tables; piped into a log or a script they get room for whole lines.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(width=_WIDTH)
console_err = Console(stderr=True, width=_WIDTH)


def settings() -> Settings:
    return Settings()


def clock() -> Clock:
    return SystemClock()


@contextmanager
def network(*lg_codes: str) -> Iterator[EmbeddedNetwork]:
    """The embedded network under JUKINET_HOME: the demo municipalities, every municipality
    with a database there, and ``lg_codes``. Messages a command queues are delivered before
    it returns (nodes that are down stay queued for the next run)."""
    home = settings().home
    wanted = [reference.municipality(c).lg_code for c in lg_codes]
    net = build_embedded(
        home, clock(), [*DEMO_MUNICIPALITIES, *hosted_municipalities(home), *wanted]
    )
    try:
        yield net
        net.drain()
    finally:
        net.dispose()


def parse_date(value: str | None, field: str) -> date | None:
    """ISO dates (2013-08-30) or Japanese-era dates (平成25年8月30日)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return parse_era_date(value)
    except RuleViolation as exc:
        raise RuleViolation(field, "date", f"{value!r} is not a date: {exc.message}") from exc


def require_date(value: str, field: str) -> date:
    parsed = parse_date(value, field)
    assert parsed is not None
    return parsed


@contextmanager
def progress_bar(description: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar as a ``(done, total)`` callback; a no-op with ``--no-progress``."""
    if not enabled:
        yield lambda _done, _total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console_err,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
