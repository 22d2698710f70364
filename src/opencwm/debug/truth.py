"""`truth on`: the real run beside the imagined one, and where they disagree.

The two are paired by the debugger's own moves, not by position: each
imagined frame was made by a step (into) or a forced `return` (over), and
replaying the same moves on the recorded run finds the real frame that it
stands for (`align`). So stepping over a call skips the callee's frames in
both worlds, and the pairs stay meaningful after it. Past the end of the
real run, or once the imagined state was edited (a counterfactual the real
run never had), a frame has no real partner.
"""

from __future__ import annotations

from dataclasses import dataclass

from opencwm.debug.worlds import next_position
from opencwm.trace.frame import Frame


@dataclass(frozen=True)
class Disagreement:
    """Where an imagined frame and its real partner differ."""

    event: bool = False
    line: bool = False
    names: tuple[str, ...] = ()
    """Locals whose values differ, or that only one of the two has."""
    arg: bool = False
    """The returned value or the exception."""

    def __bool__(self) -> bool:
        return self.event or self.line or bool(self.names) or self.arg


def disagreement(imagined: Frame, real: Frame) -> Disagreement:
    names = sorted(
        k
        for k in set(imagined.locals) | set(real.locals)
        if imagined.locals.get(k) != real.locals.get(k)
    )
    return Disagreement(
        event=imagined.event != real.event,
        line=imagined.line != real.line,
        names=tuple(names),
        arg=imagined.arg != real.arg,
    )


def align(real: list[Frame], forced: list[str | None]) -> list[int | None]:
    """For each imagined frame, made by the moves `forced` (None: a plain
    step; 'return': a forced return; the first entry is the call frame),
    the index of the real frame it stands for, or None past the real run."""
    out: list[int | None] = []
    pos: int | None = None
    for i, force in enumerate(forced):
        if i == 0:
            pos = 0 if real else None
        elif pos is not None:
            pos = next_position(real, pos, force)
            if pos >= len(real):
                pos = None
        out.append(pos)
    return out
