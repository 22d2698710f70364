"""The one data model: a `Trace` is a list of `Frame`s plus how the run ended.

The tracer emits these, the codecs serialise them, the corpus stores them,
the model is trained on their text form, and the debugger and evaluators
compare them. Values are kept as repr *strings*: a trace is a record of
what a program showed, never live objects, so it can cross processes and
be compared byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FORMAT_VERSION = 1
"""Version of a trace of one activity; a trace with actors is written as
`CONCURRENT_VERSION` (docs/trace-format.md, "Concurrent programs")."""
CONCURRENT_VERSION = 2

Event = Literal["call", "line", "return", "exception", "send", "recv"]
EVENTS: tuple[Event, ...] = ("call", "line", "return", "exception")
MESSAGE_EVENTS: tuple[Event, ...] = ("send", "recv")
"""Events of a concurrent trace only: a message sent or delivered. They are
at no line (line 0, source "", func "", depth 0); `locals` holds the
message (`src`, `dst`, `msg`) and `actor` the node that sent or receives it."""

Status = Literal["returned", "raised", "truncated", "failed"]
STATUSES: tuple[Status, ...] = ("returned", "raised", "truncated", "failed")

MODULE_ENTRY = "<module>"
"""Entry name of a whole-script trace: the module body is the traced activation."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One observation-action step of an execution.

    `locals` is the state *before* `source` runs (name -> repr), full, never
    diff-encoded; it is empty on return and exception frames, whose `arg`
    holds the repr of the returned value or the exception instead.
    `depth` counts traced activations below this one (the entry is 0).
    `actor` names the task, thread or node the frame belongs to; None in a
    trace of one activity, and then the frame serialises exactly as in
    format version 1. With actors, `depth` counts within the actor.
    """

    event: Event
    line: int
    source: str
    func: str
    depth: int
    locals: dict[str, str] = field(default_factory=dict)
    arg: str | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        assert self.event in EVENTS or (self.event in MESSAGE_EVENTS and self.actor is not None), (
            f"unknown event {self.event!r} (actor {self.actor!r})"
        )
        assert self.actor is None or ("]" not in self.actor and "\n" not in self.actor), (
            f"actor names hold no ']' or newline: {self.actor!r}"
        )
        assert "\n" not in self.source, f"source must be one line: {self.source!r}"
        has_arg = self.event in ("return", "exception")
        assert (self.arg is not None) == has_arg, f"{self.event} frame with arg={self.arg!r}"
        assert has_arg is False or not self.locals, f"{self.event} frame carries locals"

    def to_dict(self) -> dict:
        d = {
            "event": self.event,
            "line": self.line,
            "source": self.source,
            "func": self.func,
            "depth": self.depth,
            "locals": dict(self.locals),
            "arg": self.arg,
        }
        if self.actor is not None:  # absent otherwise: version-1 rows stay byte-identical
            d["actor"] = self.actor
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Frame:
        return cls(
            event=d["event"],
            line=int(d["line"]),
            source=d["source"],
            func=d["func"],
            depth=int(d["depth"]),
            locals=dict(d.get("locals") or {}),
            arg=d.get("arg"),
            actor=d.get("actor"),
        )


@dataclass(slots=True)
class Trace:
    """A traced execution: the context it ran in, its frames and its ending.

    `source` is the context exactly as a model sees it: the program with the
    entry's `def` line marked `# << START_OF_TRACE` (scripts carry no
    marker). `status` says how the run ended; `reason` says why when it was
    `truncated` (a limit, a kill) or `failed` (could not start: syntax
    error, missing entry, bad arguments).
    """

    source: str
    entry: str
    frames: list[Frame] = field(default_factory=list)
    status: Status = "returned"
    reason: str = ""
    input: str = ""
    stdout: str = ""

    def __post_init__(self) -> None:
        assert self.status in STATUSES, f"unknown status {self.status!r}"

    @property
    def result(self) -> str | None:
        """Repr of what the entry returned or raised, if it finished."""
        if self.status in ("returned", "raised") and self.frames:
            return self.frames[-1].arg
        return None

    @property
    def concurrent(self) -> bool:
        """Whether any frame names an actor (a task, thread or node)."""
        return any(f.actor is not None for f in self.frames)

    def meta(self) -> dict:
        return {
            "format": "opencwm.trace",
            "version": CONCURRENT_VERSION if self.concurrent else FORMAT_VERSION,
            "entry": self.entry,
            "input": self.input,
            "status": self.status,
            "reason": self.reason,
            "stdout": self.stdout,
            "source": self.source,
        }
