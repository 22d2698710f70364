"""The generator's own quick run of a candidate: in-process, counted, capped.

Each candidate's `f` is run once with its input under a `sys.settrace` hook
that counts line events in the generated code and aborts past a cap, and
that every few lines checks the frame's values for runaway size. This is
the net under the construction rules, not a sandbox: it is only ever given
code this package wrote (no imports, no I/O, no attribute games), and it
cannot interrupt a single slow builtin call, which is why the builders
never write one with an unbounded argument. The real tracer runs the
accepted programs again, sandboxed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Literal

FILENAME = "<synthetic>"
MAX_LEN = 400  # longest str / list / dict / set a run may build
MAX_ABS = 10**12  # largest int magnitude a run may build
CHECK_EVERY = 8  # line events between size checks

Status = Literal["returned", "raised", "too_long", "too_big"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one run went: `lines` line events; `error` the exception's type name."""

    status: Status
    lines: int
    error: str | None = None
    detail: str = ""


class _Abort(BaseException):
    """BaseException, so the program's own `except` clauses cannot catch it."""


def _too_big(value: object) -> bool:
    """Past the size caps, counting the strings and ints inside containers too
    (a list can blow up one growing item at a time)."""
    if isinstance(value, int):
        return abs(value) > MAX_ABS
    if isinstance(value, str):
        return len(value) > MAX_LEN
    if isinstance(value, dict):
        value = [*value, *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        size = len(value)
        for x in value:
            if isinstance(x, str):
                size += len(x)
            elif isinstance(x, int) and abs(x) > MAX_ABS:
                return True
        return size > MAX_LEN
    return False


def run(code: CodeType, args: tuple[object, ...], max_lines: int) -> Outcome:
    """Run `f(*args)` from `code` (compiled with filename `FILENAME`)."""
    namespace: dict[str, object] = {"__name__": "synthetic"}
    exec(code, namespace)
    f = namespace["f"]
    lines = 0

    def local(frame: FrameType, event: str, arg: object) -> object:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines > max_lines:
                raise _Abort("too_long")
            if lines % CHECK_EVERY == 0 and any(map(_too_big, frame.f_locals.values())):
                raise _Abort("too_big")
        return local

    def hook(frame: FrameType, event: str, arg: object) -> object:
        return local if frame.f_code.co_filename == FILENAME else None

    previous = sys.gettrace()
    sys.settrace(hook)
    try:
        result = f(*args)  # type: ignore[operator]
    except _Abort as exc:
        return Outcome(str(exc), lines)  # type: ignore[arg-type]
    except RecursionError:
        return Outcome("too_long", lines, "RecursionError")
    except Exception as exc:
        return Outcome("raised", lines, type(exc).__name__, str(exc)[:200])
    finally:
        sys.settrace(previous)
    if _too_big(result) or (isinstance(result, tuple) and any(map(_too_big, result))):
        return Outcome("too_big", lines)
    return Outcome("returned", lines)
