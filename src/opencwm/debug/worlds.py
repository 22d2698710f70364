"""The two worlds a debugger session steps through, behind one interface.

A `World` is a growing list of frames: `advance` adds at most one (the
model's next frame, or the recorded run's), `truncate` takes frames back
off the end, `replace` swaps one for an edited copy. The frame list is the
whole state, as in CWM's debugger demo, so going back is a truncation and
a counterfactual edit is a replaced frame that the next prompt is built
from.

- `ImaginedWorld`: a language model predicts each frame (`world.rollout.Imagined`:
  the prompt only grows at its end, so a KV-cached backend never
  re-encodes the history between steps).
- `RealWorld`: the real tracer ran the program once in the sandbox; its
  frames are revealed one at a time. It cannot take an edited state (the
  tracer records a run, it cannot resume one), so `replace` refuses.

Both understand a forced `return` after a call frame the same way: skip
the callee's body to the frame that leaves it (step over).
"""

from __future__ import annotations

from typing import Protocol

from opencwm.trace.frame import MESSAGE_EVENTS, Frame, Trace
from opencwm.world.backends import Sampling
from opencwm.world.rollout import Imagined, Step


class DebugError(ValueError):
    """A command that cannot be carried out; the message is one line that
    says what to do instead. The session's state is unchanged."""


class World(Protocol):
    @property
    def frames(self) -> list[Frame]: ...

    @property
    def ended(self) -> bool: ...

    def advance(self, force: str | None = None, sampling: Sampling | None = None) -> Step:
        """One more frame (or why not: the step's `error`, or `ended`)."""
        ...

    def truncate(self, n: int) -> None:
        """Keep the first `n` frames; the execution is open again."""
        ...

    def replace(self, i: int, frame: Frame) -> None:
        """Frame `i` becomes `frame` (a counterfactual edit)."""
        ...


class ImaginedWorld:
    """A model's execution of `imagined.context`, one frame per `advance`."""

    def __init__(self, imagined: Imagined) -> None:
        self.imagined = imagined

    @property
    def frames(self) -> list[Frame]:
        return self.imagined.frames

    @property
    def ended(self) -> bool:
        return self.imagined.ended

    def advance(self, force: str | None = None, sampling: Sampling | None = None) -> Step:
        return self.imagined.step(force, sampling)

    def truncate(self, n: int) -> None:
        self.imagined.truncate(n)

    def replace(self, i: int, frame: Frame) -> None:
        self.imagined.frames[i] = frame


def activation_end(frames: list[Frame], i: int) -> int:
    """Index of the frame that leaves the activation whose call frame is
    `frames[i]` (its return frame, or the exception frame it is left by);
    `len(frames)` if the recorded run stops before it does."""
    depth, actor = frames[i].depth, frames[i].actor
    for j in range(i + 1, len(frames)):
        f = frames[j]
        if f.depth != depth or f.actor != actor or f.event in MESSAGE_EVENTS:
            continue  # another activation, another actor's stack, or a message
        if f.event == "return":
            return j
        if f.event == "exception" and _left(frames, j, depth, actor):
            return j
    return len(frames)


def _left(frames: list[Frame], j: int, depth: int, actor: str | None) -> bool:
    """Whether the exception at `j` leaves its activation: the actor's next
    frame (if any) is shallower."""
    later = (f for f in frames[j + 1 :] if f.actor == actor and f.event not in MESSAGE_EVENTS)
    nxt = next(later, None)
    return nxt is None or nxt.depth < depth


def next_position(frames: list[Frame], i: int, force: str | None) -> int:
    """Where a recorded run goes from frame `i`: the next frame, or with a
    forced `return` after a call frame, the frame that leaves the callee."""
    if force == "return" and frames[i].event == "call":
        return activation_end(frames, i)
    return i + 1


class RealWorld:
    """A recorded real run, revealed a frame at a time (`positions` are the
    indices into `trace.frames` shown so far; stepping over skips some)."""

    def __init__(self, trace: Trace) -> None:
        assert trace.frames, f"a real world needs at least the call frame: {trace.reason}"
        self.trace = trace
        self.positions = [0]

    @property
    def frames(self) -> list[Frame]:
        return [self.trace.frames[i] for i in self.positions]

    @property
    def ended(self) -> bool:
        last = self.positions[-1]
        return last == len(self.trace.frames) - 1 and self.trace.status in ("returned", "raised")

    def advance(self, force: str | None = None, sampling: Sampling | None = None) -> Step:
        if self.ended:
            raise RuntimeError("the real execution has ended")
        j = next_position(self.trace.frames, self.positions[-1], force)
        if j >= len(self.trace.frames):
            return Step(None, "", f"the real run was cut here: {self.trace.reason}")
        self.positions.append(j)
        return Step(self.trace.frames[j], "")

    def truncate(self, n: int) -> None:
        del self.positions[n:]

    def replace(self, i: int, frame: Frame) -> None:
        raise DebugError(
            "the real world cannot take an edited state (the tracer records a run, it "
            "cannot resume one); edit the call frame to run again on new arguments"
        )
