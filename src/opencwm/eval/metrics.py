"""How close an imagined execution is to the real one: each metric, defined once.

Two comparisons use them. *Teacher-forced*: the model is given the true
prefix and predicts one frame, which is compared with the true next frame
(`score_step`). *Free-running*: the model rolls out from the real call
frame and its whole trace is compared with the real trace
(`score_rollout`).

What counts is what the model writes: a frame is its event, source line
text, locals and (on return/exception frames) value. Line number, function
and depth are derived by a reader (`trace/resolve.py`); two identical
lines in one function can be placed differently even when the model was
right, so they are never compared. Locals compare as dicts (order ignored).

"Changed" variables are the ones a step writes: their value differs from
the previous call/line frame *of the same activation* (not the previous
frame, which may belong to a callee), or they are new. A call frame starts
a new activation, so all its arguments are new; a resumed generator's call
frame counts as new too (a known simplification). Over changed variables,
precision/recall/F1 are on *names* (did the model know which variables
the line writes?) and accuracy is on *values* (did it compute them?).
Scored on (name, value) pairs, accuracy would equal recall; split this way
the two error kinds the calibration run found — a wrong line (wrong names)
and wrong arithmetic (wrong values) — show separately.

Every figure is micro-averaged: `Scores` keeps (hits, count) sums per
metric and per group (source, trace-length bucket, value type), so any
metric splits any way its records were tagged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from opencwm.trace.frame import Frame, Trace
from opencwm.trace.values import repr_type

FINISHED = ("returned", "raised")

TEACHER_FORCED = (
    "valid",
    "state",
    "action",
    "frame",
    "changed_precision",
    "changed_recall",
    "changed_f1",
    "changed_accuracy",
)
"""Per-step metrics, in the order reports show them."""
FREE_RUNNING = ("valid", "finished", "output", "trace", "steps_to_first_error")
"""Per-rollout metrics (`valid` is per step), in the order reports show them."""
DERIVED = {"changed_f1": ("changed_precision", "changed_recall")}
"""Metrics computed from two others' sums (micro F1), never added directly."""

_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024)


# --- one step ------------------------------------------------------------------


def state_match(true: Frame, pred: Frame | None) -> bool:
    """The observation is right: locals, and the value on return/exception frames."""
    return pred is not None and pred.locals == true.locals and pred.arg == true.arg


def action_match(true: Frame, pred: Frame | None) -> bool:
    """The action is right: the next event and the source line it runs."""
    return pred is not None and pred.event == true.event and pred.source == true.source


def frame_match(true: Frame, pred: Frame | None) -> bool:
    """The whole frame is right (state and action)."""
    return state_match(true, pred) and action_match(true, pred)


def changed_vars(frame: Frame | None, prev: Frame | None) -> dict[str, str]:
    """Variables of `frame` that are new or differ from `prev` (its activation's
    previous call/line frame, None for a call frame): name -> value."""
    if frame is None:
        return {}
    if prev is None:
        return dict(frame.locals)
    return {k: v for k, v in frame.locals.items() if prev.locals.get(k) != v}


class Activations:
    """The last call/line frame of each open activation, as frames arrive in order.

    `previous(frame)` is what `frame`'s changes are measured against; it
    reads the depth a frame carries (real, or derived by the resolver for
    a predicted one), so a predicted frame is placed by the true prefix.
    """

    def __init__(self, frames: Sequence[Frame] = ()) -> None:
        self._last: dict[int, Frame] = {}
        for f in frames:
            self.add(f)

    def previous(self, frame: Frame) -> Frame | None:
        return None if frame.event == "call" else self._last.get(frame.depth)

    def add(self, frame: Frame) -> None:
        if frame.event == "call":  # a new activation at this depth; deeper ones are gone
            for d in [d for d in self._last if d >= frame.depth]:
                del self._last[d]
        if frame.event in ("call", "line"):
            self._last[frame.depth] = frame


# --- whole traces ----------------------------------------------------------------


def output_match(real: Trace, imagined: Trace) -> bool:
    """Same ending (returned / raised) with the same value or exception repr."""
    return (
        real.status in FINISHED
        and imagined.status == real.status
        and imagined.result == real.result
    )


def output_type(real: Trace) -> str:
    """The value type an output is counted under: `exception` for a raise."""
    if real.status == "raised":
        return "exception"
    return repr_type(real.result or "")


def steps_to_first_error(real: Trace, imagined: Trace, given: int = 1) -> int:
    """Frames the model got right, after the `given` ones it was handed,
    before its first wrong, missing or extra frame."""
    n = min(len(real.frames), len(imagined.frames))
    i = given
    while i < n and frame_match(real.frames[i], imagined.frames[i]):
        i += 1
    return max(i - given, 0)


def trace_match(real: Trace, imagined: Trace) -> bool:
    """Every frame right, none missing or extra, and the same ending."""
    return (
        real.status == imagined.status
        and len(real.frames) == len(imagined.frames)
        and all(frame_match(t, p) for t, p in zip(real.frames, imagined.frames, strict=True))
    )


def length_bucket(n_frames: int) -> str:
    """Trace-length group: 1-8, 9-16, ..., 513-1024, >1024 frames."""
    low = 1
    for high in _BUCKETS:
        if n_frames <= high:
            return f"{low}-{high}"
        low = high + 1
    return f">{_BUCKETS[-1]}"


def _bucket_order(label: str) -> int:
    return int(label.lstrip(">").split("-")[0])


# --- aggregation -----------------------------------------------------------------

DIMENSIONS = ("source", "length", "type")


@dataclass
class Scores:
    """Micro-averaged sums of (hits, count) per metric, overall and per group.

    `add` takes the groups a record belongs to; `summary` turns the sums into
    `{metric: {"all": {...}, "by_source": {...}, "by_length": {...},
    "by_type": {...}}}` with a `value` (None when nothing was counted) and
    an `n` per cell. A mean (e.g. steps to first error) is a sum of values
    over a count of one each.
    """

    sums: dict[tuple[str, str, str], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0.0])
    )

    def add(self, metric: str, hit: float, count: float = 1, **groups: str | None) -> None:
        assert metric not in DERIVED, f"{metric} is derived from {DERIVED[metric]}"
        assert set(groups) <= set(DIMENSIONS), f"unknown groups {set(groups) - set(DIMENSIONS)}"
        keys = [("all", "all")] + [(d, k) for d, k in groups.items() if k is not None]
        for dim, key in keys:
            s = self.sums[(metric, dim, key)]
            s[0] += hit
            s[1] += count

    def value(self, metric: str, dim: str = "all", key: str = "all") -> float | None:
        if metric in DERIVED:
            p, r = (self.value(m, dim, key) for m in DERIVED[metric])
            if p is None and r is None:
                return None
            p, r = p or 0.0, r or 0.0  # nothing predicted, or nothing to find: F1 is 0
            return 0.0 if p + r == 0 else 2 * p * r / (p + r)
        hit, count = self.sums.get((metric, dim, key), (0.0, 0.0))
        return hit / count if count else None

    def count(self, metric: str, dim: str = "all", key: str = "all") -> float:
        metric = DERIVED.get(metric, (metric, metric))[1]
        return self.sums.get((metric, dim, key), (0.0, 0.0))[1]

    def keys(self, dim: str) -> list[str]:
        found = {k for (_, d, k) in self.sums if d == dim}
        return sorted(found, key=_bucket_order) if dim == "length" else sorted(found)

    def summary(self, metrics: Sequence[str]) -> dict:
        out: dict = {}
        for m in metrics:
            cell = {"all": self._cell(m, "all", "all")}
            for dim in DIMENSIONS:
                split = {k: self._cell(m, dim, k) for k in self.keys(dim) if self.count(m, dim, k)}
                if split:
                    cell[f"by_{dim}"] = split
            out[m] = cell
        return out

    def _cell(self, metric: str, dim: str, key: str) -> dict:
        value = self.value(metric, dim, key)
        return {"value": value, "n": int(self.count(metric, dim, key))}


# --- scoring ------------------------------------------------------------------------


def score_step(
    scores: Scores,
    true: Frame,
    pred: Frame | None,
    activations: Activations,
    *,
    valid: bool,
    source: str | None = None,
    length: str | None = None,
) -> bool:
    """Score one teacher-forced prediction; `activations` holds the true prefix.

    `pred` is None when the model's text did not parse (`valid` False) or
    it ended the trace instead of writing a frame (`valid` True): either
    way every per-step metric counts it wrong. Returns whether the whole
    frame was right.
    """
    groups = {"source": source, "length": length}
    scores.add("valid", valid, **groups)
    scores.add("state", state_match(true, pred), **groups)
    scores.add("action", action_match(true, pred), **groups)
    right = frame_match(true, pred)
    scores.add("frame", right, **groups)
    want = changed_vars(true, activations.previous(true))
    got = changed_vars(pred, activations.previous(pred) if pred is not None else None)
    for name, value in got.items():
        scores.add("changed_precision", name in want, type=repr_type(value), **groups)
    for name, value in want.items():
        kind = repr_type(value)
        scores.add("changed_recall", name in got, type=kind, **groups)
        scores.add("changed_accuracy", got.get(name) == value, type=kind, **groups)
    return right


def score_rollout(
    scores: Scores,
    real: Trace,
    imagined: Trace,
    valid_steps: Sequence[bool],
    *,
    given: int = 1,
    source: str | None = None,
    length: str | None = None,
) -> dict:
    """Score one free-running rollout against the real trace; returns the
    per-trace figures (for a report's per-trace list)."""
    groups = {"source": source, "length": length}
    for ok in valid_steps:
        scores.add("valid", ok, **groups)
    figures = {
        "finished": imagined.status in FINISHED,
        "output": output_match(real, imagined),
        "trace": trace_match(real, imagined),
        "steps_to_first_error": steps_to_first_error(real, imagined, given),
    }
    scores.add("finished", figures["finished"], **groups)
    scores.add("output", figures["output"], type=output_type(real), **groups)
    scores.add("trace", figures["trace"], **groups)
    scores.add("steps_to_first_error", figures["steps_to_first_error"], **groups)
    return figures
