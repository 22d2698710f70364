"""Imagined against real: step-by-step pairing, first divergence, tables.

A rollout is judged against the real tracer step by step, by position:
step `i` of both is compared on event, line, locals and (for return and
exception frames) the value. The *first divergence* is the first step where
they differ, or where one of the two has ended (or the model answered
something that did not parse); everything after it is conditioned on a
wrong state, so the positional figures past it say little. `predict
--compare`, the demo and the evaluators share this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text

from opencwm.trace.frame import Frame, Trace
from opencwm.trace.view import _EVENT_STYLE, changed, trace_table
from opencwm.world.rollout import Step

RAW_SHOWN = 100
"""Characters of an unparsable model answer shown in a table cell."""


def same_step(a: Frame, b: Frame) -> bool:
    """The evaluators' definition of a right frame (`eval.metrics.frame_match`):
    one definition, so `predict --compare` and `eval trace` agree."""
    from opencwm.eval.metrics import frame_match

    return frame_match(a, b)


def invalid_step(steps: list[Step]) -> Step | None:
    """The model's last answer if it did not parse (a rollout stops there)."""
    if steps and steps[-1].frame is None and steps[-1].error:
        return steps[-1]
    return None


def first_divergence(real: list[Frame], imagined: list[Frame]) -> int | None:
    """Index of the first step that differs, or where the shorter one ends;
    None if the two are the same frames."""
    for i, (a, b) in enumerate(zip(real, imagined, strict=False)):
        if not same_step(a, b):
            return i
    return None if len(real) == len(imagined) else min(len(real), len(imagined))


@dataclass
class Comparison:
    """A real trace and an imagined one, paired step by step."""

    real: Trace
    imagined: Trace
    invalid: Step | None = None
    """The model's unparsable answer, standing at index len(imagined.frames)."""
    divergence: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.divergence = first_divergence(self.real.frames, self.imagined.frames)
        if self.divergence is None and self.invalid is not None:
            self.divergence = len(self.imagined.frames)

    @property
    def rows(self) -> int:
        n = len(self.imagined.frames) + (self.invalid is not None)
        return max(len(self.real.frames), n)

    def stats(self) -> dict:
        """Match figures; `exact` and `event_line` count positional matches
        over the real trace's steps."""
        real, imagined = self.real.frames, self.imagined.frames
        pairs = list(zip(real, imagined, strict=False))
        return {
            "real_frames": len(real),
            "imagined_frames": len(imagined),
            "exact": sum(same_step(a, b) for a, b in pairs),
            "event_line": sum((a.event, a.line) == (b.event, b.line) for a, b in pairs),
            "first_divergence": self.divergence,
            "matching_prefix": len(real) if self.divergence is None else self.divergence,
            "invalid": self.invalid is not None,
            "real_status": self.real.status,
            "imagined_status": self.imagined.status,
            "real_result": self.real.result,
            "imagined_result": self.imagined.result,
            "same_result": self.real.status in ("returned", "raised")
            and (self.real.status, self.real.result)
            == (self.imagined.status, self.imagined.result),
        }

    def summary(self) -> str:
        """One line of match statistics for people."""
        s = self.stats()
        n = max(s["real_frames"], 1)
        where = (
            "no divergence"
            if s["first_divergence"] is None
            else f"first divergence at step {s['first_divergence']}"
        )
        if self.real.status not in ("returned", "raised"):
            result = "no result to compare"
        else:
            result = "same result" if s["same_result"] else "results differ"
        return (
            f"match: {s['exact']}/{s['real_frames']} steps exact ({s['exact'] / n:.0%}), "
            f"event+line {s['event_line']}/{s['real_frames']} ({s['event_line'] / n:.0%}); "
            f"{where}; {result} (real {_ending(self.real)}, imagined {_ending(self.imagined)})"
        )


def compare(real: Trace, imagined: Trace, steps: list[Step] | None = None) -> Comparison:
    """Pair `real` with `imagined`; `steps` (from `rollout`) adds the model's
    unparsable last answer, if any, as a step of its own."""
    return Comparison(real, imagined, invalid_step(steps or []))


def _ending(trace: Trace) -> str:
    if trace.status == "returned":
        return f"returned {trace.result}"
    if trace.status == "raised":
        return f"raised {trace.result}"
    return trace.status


def _state(frame: Frame, prev: Frame | None, also: Frame | None = None) -> Text:
    """Changed locals, plus any whose value differs from `also` (the real
    frame beside it), so a wrong value that the model kept unchanged shows."""
    if frame.arg is not None:
        return Text(f"→ {frame.arg}", style=_EVENT_STYLE[frame.event])
    shown = changed(frame, prev)
    if also is not None:
        for k in sorted(set(frame.locals) | set(also.locals)):
            if frame.locals.get(k) != also.locals.get(k):
                shown[k] = frame.locals.get(k, "∅")
    return Text(", ".join(f"{k}={v}" for k, v in shown.items()))


def _invalid_cells(step: Step) -> tuple[Text, str, Text]:
    raw = step.raw if len(step.raw) <= RAW_SHOWN else step.raw[:RAW_SHOWN] + "…"
    return (
        Text("invalid", style="bold red"),
        "?",
        Text.assemble((repr(raw), "red"), (f"  ({step.error})", "dim")),
    )


def imagined_table(
    trace: Trace, steps: list[Step], *, title: str = "", limit: int | None = None
) -> Table:
    """The imagined trace as `trace_table` draws it, plus the model's
    unparsable answer, if any, as a last row showing its raw text."""
    table = trace_table(trace, title=title, limit=limit)
    bad = invalid_step(steps)
    if bad is not None and (limit is None or len(trace.frames) < limit):
        event, line, value = _invalid_cells(bad)
        lanes = [Text("")] * (len(table.columns) - 4)  # one source column, or a lane per actor
        table.add_row(str(len(trace.frames)), event, line, *lanes, value)
    return table


def comparison_table(c: Comparison, *, title: str = "", limit: int | None = None) -> Table:
    """Real and imagined side by side, one row per step: the real frame's
    event, line and source, what changed in each, the imagined event and
    line only where they differ (in red), and the first divergence marked."""
    table = Table(title=title or None, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("event")
    table.add_column("line", justify="right")
    table.add_column("source (real)", overflow="fold", ratio=2)
    table.add_column("real", overflow="fold", ratio=2)
    table.add_column("imagined", overflow="fold", ratio=3)
    table.add_column("", no_wrap=True, min_width=len(DIVERGENCE))
    real, imagined = c.real.frames, c.imagined.frames
    for i in range(c.rows if limit is None else min(c.rows, limit)):
        a = real[i] if i < len(real) else None
        b = imagined[i] if i < len(imagined) else None
        cells: list[Text | str] = [str(i)]
        if a is None:
            cells += [Text("—", style="dim"), "", Text(""), Text("")]
        else:
            cells += [
                Text(a.event, style=_EVENT_STYLE[a.event]),
                str(a.line),
                Text("  " * a.depth + a.source.strip()),
                _state(a, real[i - 1] if i else None),
            ]
        if b is not None:
            cells.append(_imagined_cell(b, imagined[i - 1] if i else None, a))
        elif c.invalid is not None and i == len(imagined):
            event, _, value = _invalid_cells(c.invalid)
            cells.append(Text.assemble(event, " ", value))
        else:
            cells.append(Text("—", style="dim"))
        if i == c.divergence:
            cells.append(Text(DIVERGENCE, style="bold red"))
        else:
            cells.append(Text("✓", style="green") if a and b and same_step(a, b) else "")
        table.add_row(*cells, style="dim" if c.divergence is not None and i > c.divergence else "")
    return table


DIVERGENCE = "◀ first divergence"


def _imagined_cell(b: Frame, prev: Frame | None, a: Frame | None) -> Text:
    state = _state(b, prev, a if a is not None and a.event in ("call", "line") else None)
    if a is not None and (a.event, a.line) == (b.event, b.line):
        if (a.locals, a.arg) != (b.locals, b.arg):
            state.stylize("bold red")
        return state
    where = Text(f"[{b.event} line {b.line}] ", style="bold red")
    return Text.assemble(where, state)
