"""Rendering a trace for people: a rich table of frames with changes marked.

A trace of a concurrent program (frames with an `actor`) is drawn in lanes:
one column per actor, in the order they first appear, each frame's line in
its actor's column, and a message as `a ──msg──▶ b` in the column of the
actor whose frame it is (the sender's `send`, the receiver's `recv`). What
changed is then counted against the previous frame of the same actor. A
trace of one activity is drawn exactly as before.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from opencwm.trace.frame import Frame, Trace

_EVENT_STYLE = {
    "call": "cyan",
    "line": "white",
    "return": "green",
    "exception": "red",
    "send": "magenta",
    "recv": "magenta",
}


def changed(frame: Frame, prev: Frame | None) -> dict[str, str]:
    """Locals that are new or different since the previous frame of the same activation."""
    if prev is None or prev.depth != frame.depth or prev.event not in ("call", "line"):
        return dict(frame.locals)
    return {k: v for k, v in frame.locals.items() if prev.locals.get(k) != v}


def trace_table(trace: Trace, *, title: str = "", limit: int | None = None) -> Table:
    if trace.concurrent:
        return lanes_table(trace.frames, title=title, stop=limit)
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


def actors_of(frames: list[Frame]) -> list[str]:
    """The actors of a concurrent trace, in the order they first appear."""
    return list(dict.fromkeys(f.actor for f in frames if f.actor is not None))


def message_pairs(frames: list[Frame]) -> list[tuple[int, int]]:
    """(send index, recv index) of each delivered message: a recv is matched
    to the earliest send before it, not yet matched, of the same src, dst
    and msg. A send with no recv (lost, or still in flight) has no pair;
    so has a recv with no send (a model's invention)."""
    waiting: dict[tuple[str, str, str], list[int]] = {}
    out = []
    for i, f in enumerate(frames):
        key = tuple(f.locals.get(k, "") for k in ("src", "dst", "msg"))
        if f.event == "send":
            waiting.setdefault(key, []).append(i)
        elif f.event == "recv" and waiting.get(key):
            out.append((waiting[key].pop(0), i))
    return out


def message_text(frame: Frame) -> str:
    """A send or recv frame as `a ──msg──▶ b` (node names unquoted when
    they are strings, as the actor names are)."""
    src, dst = (_node(frame.locals.get(k, "?")) for k in ("src", "dst"))
    return f"{src} ──{frame.locals.get('msg', '?')}──▶ {dst}"


def _node(r: str) -> str:
    if len(r) >= 2 and r[0] == r[-1] and r[0] in "'\"" and "\\" not in r:
        return r[1:-1]
    return r


def lanes_table(
    frames: list[Frame],
    *,
    title: str = "",
    start: int = 0,
    stop: int | None = None,
    current: int | None = None,
) -> Table:
    """Frames `start:stop` of a concurrent trace, one lane (column) per
    actor; `current` marks that frame's row (the debugger's)."""
    actors = actors_of(frames) or ["?"]
    table = Table(title=title or None, show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("event")
    table.add_column("line", justify="right")
    for actor in actors:
        table.add_column(actor, overflow="fold", header_style="bold")
    table.add_column("state / value", overflow="fold")
    last: dict[str | None, Frame] = {}
    stop = len(frames) if stop is None else min(stop, len(frames))
    for i, f in enumerate(frames[:stop]):
        prev = last.get(f.actor)
        last[f.actor] = f
        if i < start:
            continue
        style = _EVENT_STYLE.get(f.event, "white")
        if f.event in ("send", "recv"):
            what, value = Text(message_text(f), style=style), Text("")
        else:
            what = Text("  " * f.depth + f.source.strip())
            if f.arg is not None:
                value = Text(f"→ {f.arg}", style=style)
            else:
                value = Text(", ".join(f"{k}={v}" for k, v in changed(f, prev).items()))
        lanes = [what if a == f.actor else Text("│", style="dim") for a in actors]
        table.add_row(
            str(i),
            Text(f.event, style=style),
            str(f.line) if f.line else "",
            *lanes,
            value,
            style="reverse" if i == current else "",
        )
    return table


def status_line(trace: Trace) -> str:
    n = len(trace.frames)
    if trace.status == "returned":
        return f"returned {trace.result} after {n} frames"
    if trace.status == "raised":
        return f"raised {trace.result} after {n} frames"
    return f"{trace.status}: {trace.reason} ({n} frames kept)"
