"""Rendering a trace for people: a rich table of frames with changes marked."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from opencwm.trace.frame import Frame, Trace

_EVENT_STYLE = {"call": "cyan", "line": "white", "return": "green", "exception": "red"}


def changed(frame: Frame, prev: Frame | None) -> dict[str, str]:
    """Locals that are new or different since the previous frame of the same activation."""
    if prev is None or prev.depth != frame.depth or prev.event not in ("call", "line"):
        return dict(frame.locals)
    return {k: v for k, v in frame.locals.items() if prev.locals.get(k) != v}


def trace_table(trace: Trace, *, title: str = "", limit: int | None = None) -> Table:
    table = Table(title=title or None, show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("event")
    table.add_column("line", justify="right")
    table.add_column("source", overflow="fold")
    table.add_column("state / value", overflow="fold")
    prev = None
    frames = trace.frames if limit is None else trace.frames[:limit]
    for i, f in enumerate(frames):
        indent = "  " * f.depth
        if f.arg is not None:
            value = Text(f"→ {f.arg}", style=_EVENT_STYLE[f.event])
        else:
            value = Text(", ".join(f"{k}={v}" for k, v in changed(f, prev).items()))
        table.add_row(
            str(i),
            Text(f.event, style=_EVENT_STYLE[f.event]),
            str(f.line),
            Text(indent + f.source.strip()),
            value,
        )
        prev = f
    return table


def status_line(trace: Trace) -> str:
    n = len(trace.frames)
    if trace.status == "returned":
        return f"returned {trace.result} after {n} frames"
    if trace.status == "raised":
        return f"raised {trace.result} after {n} frames"
    return f"{trace.status}: {trace.reason} ({n} frames kept)"
