"""A progress bar with rate, ETA and failures, shared by long-running commands."""

from __future__ import annotations

from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress_bar(description: str, *, failures: bool = True):
    """Yields `advance(n, failed=0)`; `set_total(n)` as an attribute."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if failures:
        columns.append(TextColumn("failures: {task.fields[failed]}"))
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=None, failed=0, rate="")
        state = {"failed": 0}

        def advance(n: int, failed: int = 0) -> None:
            state["failed"] += failed
            progress.update(task, advance=n, failed=state["failed"])
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:.1f}/s" if speed else "")

        advance.set_total = lambda n: progress.update(task, total=n)  # type: ignore[attr-defined]
        yield advance
