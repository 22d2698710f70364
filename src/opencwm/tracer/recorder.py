"""The real world's observer: a `sys.settrace` hook that records frames.

Runs inside the sandboxed child, in the same interpreter as the traced
program. Only code compiled from the traced source (filename `PROGRAM`) is
recorded; everything else (builtins, stdlib, installed packages) is opaque,
though code of ours that it calls back into (a key function given to
`sorted`, say) is traced. Each frame goes out as soon as it is made, one
JSON array per line, so a run killed half-way still leaves its frames.

Limits (frames, bytes, wall time) raise `Stop`, a BaseException: the
program is aborted where it stands and the reason is kept.
"""

from __future__ import annotations

import dis
import json
import operator
import os
import signal
import sys
import time
from collections.abc import Callable
from itertools import chain

from opencwm.trace.tokens import UNCHANGED
from opencwm.trace.values import TRUNCATED, AddressNumbering, safe_repr

PROGRAM = "<program>"
"""Filename the traced source is compiled under: how the tracer recognises it."""

_quote = json.encoder.encode_basestring  # a str as a JSON string literal, in C
_is = operator.is_
_IMMUTABLE_SCALARS = frozenset({int, bool, float, str, type(None)})
_ROWS = frozenset({list, tuple})
_SNAPSHOT_MAX = 512  # longer containers are re-rendered: comparing would cost more
_BIG_INT = 10**1000  # ints below this repr directly (CPython refuses str() past 4300 digits)
_settrace = sys.settrace  # the real one: the job replaces `sys.settrace` for the program
_RETURN_OPS = {
    dis.opmap[n] for n in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST") if n in dis.opmap
}
_DEF_PREFIXES = ("def ", "async def ", "class ")


class Stop(BaseException):
    """Tracing must end now; `reason` says why. BaseException so that the
    traced program's `except Exception` cannot swallow it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _ReprTimeout(BaseException):
    pass


class Clock:
    """One real-time timer serving two deadlines: the whole run's and a short
    one around each user-defined `__repr__` (which may sleep forever)."""

    def __init__(self, timeout_s: float, repr_timeout_s: float, on_timeout: Callable[[str], None]):
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.repr_timeout_s = repr_timeout_s
        self.in_repr = False
        self.on_timeout = on_timeout
        signal.signal(signal.SIGALRM, self._fire)
        self._arm(timeout_s)

    def _arm(self, seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-4))

    def _fire(self, signum: int, frame: object) -> None:
        remaining = self.deadline - time.monotonic()
        if self.in_repr and remaining > 0:
            self.in_repr = False
            self._arm(remaining)
            raise _ReprTimeout
        reason = f"timed out after {self.timeout_s:g}s"
        self.on_timeout(reason)
        raise Stop(reason)

    def guarded_repr(self, obj: object) -> str:
        remaining = self.deadline - time.monotonic()
        self.in_repr = True
        self._arm(min(self.repr_timeout_s, remaining))
        try:
            return repr(obj)
        except _ReprTimeout:
            return f"<repr of {type(obj).__name__} timed out>"
        finally:
            if self.in_repr:
                self.in_repr = False
                self._arm(self.deadline - time.monotonic())

    def cancel(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.in_repr = False


class Recorder:
    """Turns trace events into frames written to `out_fd`.

    `lines` are the traced source's lines (to find `def` lines behind
    decorators). `call_repr` renders non-builtin values (time-guarded).
    """

    def __init__(
        self,
        lines: list[str],
        out_fd: int,
        *,
        max_frames: int,
        max_bytes: int,
        repr_cap: int,
        call_repr: Callable[[object], str] = repr,
    ) -> None:
        self.lines = lines
        self.out_fd = out_fd
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.repr_cap = repr_cap
        self.call_repr = call_repr
        self.numbering = AddressNumbering()
        self.depth = -1
        self.frames = 0
        self.bytes = 0
        self.reason = ""
        self.entry_done = False
        self._def_lines: dict[object, int] = {}
        self._code_bytes: dict[object, bytes] = {}
        self._texts: dict[object, dict] = {}  # frame -> name -> container snapshot + text
        self._raised: dict[object, str] = {}  # frame -> JSON text of its latest exception
        self._last: tuple = (None, "")  # (frame, event) of the latest frame written

    # -- trace hooks -------------------------------------------------------
    # The hot path: every traced line of the program runs through
    # `local_trace`, so it builds the output line directly (each string
    # JSON-quoted by the C encoder) instead of a dict for `json.dumps`.
    def global_trace(self, frame, event, arg):
        if frame.f_code.co_filename != PROGRAM or self.entry_done:
            return None
        try:
            self.depth += 1
            code = frame.f_code
            lineno = self._call_line(frame)
            self._write(frame, "call", lineno, code.co_name, self._locals(frame), "null")
            return self.local_trace
        except Exception as exc:
            self._fail(exc)

    def local_trace(self, frame, event, arg):
        try:
            if event == "line":
                code = frame.f_code
                self._write(
                    frame, "line", frame.f_lineno, code.co_name, self._locals(frame), "null"
                )
            elif event == "return":
                code = frame.f_code
                ops = self._code_bytes.get(code)
                if ops is None:
                    ops = self._code_bytes[code] = code.co_code
                raised = self._raised.pop(frame, None)
                if ops[frame.f_lasti] in _RETURN_OPS:
                    value = _quote(self._repr(arg))
                    self._write(frame, "return", frame.f_lineno, code.co_name, "null", value)
                elif raised is not None and self._last != (frame, "exception"):
                    # left by an exception raised earlier, after a `finally` or a
                    # `with` exit ran: the activation still ends on an exception frame
                    self._write(frame, "exception", frame.f_lineno, code.co_name, "null", raised)
                self._leave(frame)
            elif event == "exception":
                if isinstance(arg[1], Stop | _ReprTimeout):
                    return None
                value = self._raised[frame] = _quote(self._repr(arg[1]))
                self._write(frame, "exception", frame.f_lineno, frame.f_code.co_name, "null", value)
            return self.local_trace
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, RecursionError):
            self.stop("recursion too deep to trace (the program reached Python's recursion limit)")
        self.stop(f"tracer error: {type(exc).__name__}: {exc}")

    # -- helpers -----------------------------------------------------------
    def _leave(self, frame) -> None:
        """An activation ended (its return or exception frame is written)."""
        self._texts.pop(frame, None)
        self.depth -= 1
        if self.depth < 0:
            self.entry_done = True

    def _call_line(self, frame) -> int:
        """The line a call frame shows: where execution stands (a resumed
        generator), else the `def` line, past any decorators."""
        lineno = frame.f_lineno
        if lineno == 0 or lineno == frame.f_code.co_firstlineno:
            return self._def_line(frame.f_code)
        return lineno

    def _def_line(self, code) -> int:
        line = self._def_lines.get(code)
        if line is None:
            line = max(code.co_firstlineno, 1)
            if self.lines[line - 1].lstrip().startswith("@"):
                for i in range(line, len(self.lines) + 1):
                    if self.lines[i - 1].lstrip().startswith(_DEF_PREFIXES):
                        line = i
                        break
            self._def_lines[code] = line
        return line

    def _repr(self, value: object) -> str:
        text = safe_repr(value, self.repr_cap, call_repr=self.call_repr, numbering=self.numbering)
        return f"<repr {text}>" if text == UNCHANGED else text

    def _locals(self, frame) -> str:
        """The frame's locals as a JSON object text.

        Scalars are rendered inline. Lists, tuples and dicts of scalars are
        re-rendered only when they changed: their text is kept with a
        snapshot of their elements, and identical elements (immutable
        scalars, compared by identity in C) mean identical text. This is
        what makes container-heavy programs cheap to trace.
        """
        module = frame.f_code.co_name == "<module>"
        cap = self.repr_cap
        cache = self._texts.get(frame)
        if cache is None:
            cache = self._texts[frame] = {}
        parts = []
        for name, v in frame.f_locals.items():
            if name[0] == "." or (module and (name[:2] == "__" or name in _HIDDEN_GLOBALS)):
                continue
            t = type(v)
            if (
                (t is int and -_BIG_INT < v < _BIG_INT)
                or (t is str and len(v) <= cap)
                or t is bool
                or t is float
                or v is None
            ):
                text = repr(v)
                if len(text) > cap:
                    text = text[:cap] + TRUNCATED
            elif t is list or t is tuple or t is dict:
                text = self._container_text(cache, name, v, t)
            else:
                text = self._repr(v)
            parts.append(f"{_quote(name)}:{_quote(text)}")
        return "{" + ",".join(parts) + "}"

    def _container_text(self, cache: dict, name: str, v, t) -> str:
        seen = cache.get(name)
        if seen is not None and seen[0] is v and _unchanged(v, t, seen[1]):
            return seen[2]
        text = self._repr(v)
        snapshot = _snapshot(v, t)
        if snapshot is not None:
            cache[name] = (v, snapshot, text)
        return text

    def _write(
        self, frame, event: str, line: int, func: str, locals_json: str, arg_json: str
    ) -> None:
        if self.out_fd is None:
            return
        self._last = (frame, event)
        self._emit(f'["{event}",{line},{_quote(func)},{self.depth},{locals_json},{arg_json}]\n')

    def _emit(self, row: str) -> None:
        data = row.encode()
        self.frames += 1
        self.bytes += len(data)
        os.write(self.out_fd, data)
        if self.frames >= self.max_frames:
            self.stop(f"frame limit reached ({self.max_frames} frames)")
        if self.bytes >= self.max_bytes:
            self.stop(f"trace size limit reached ({self.max_bytes} bytes)")

    def detach(self) -> None:
        """In a process the program forked: record nothing more, so the
        parent's trace is not interleaved with a copy of itself."""
        self.out_fd = None
        self.entry_done = True
        _settrace(None)

    def note(self, reason: str) -> None:
        """Keep the first reason the run had to stop."""
        self.reason = self.reason or reason

    def stop(self, reason: str) -> None:
        self.note(reason)
        _settrace(None)
        raise Stop(self.reason)


_HIDDEN_GLOBALS = frozenset({"__builtins__"})


def _snapshot(v, t) -> tuple | None:
    """What a container's text depends on, kept to tell later whether it
    changed: its elements when they are immutable scalars, or for a list of
    lists its rows, their lengths and their elements. None when it holds
    anything else or is too large to be worth it."""
    if len(v) > _SNAPSHOT_MAX:
        return None
    flat = (*v, *v.values()) if t is dict else tuple(v)
    types = set(map(type, flat))
    if types <= _IMMUTABLE_SCALARS:
        return ("flat", len(v), flat)
    if t is dict or not types <= _ROWS:
        return None
    inner = tuple(chain.from_iterable(v))
    if len(inner) > _SNAPSHOT_MAX or not set(map(type, inner)) <= _IMMUTABLE_SCALARS:
        return None
    return ("rows", len(v), flat, tuple(map(len, v)), inner)


def _unchanged(v, t, snap: tuple) -> bool:
    """Same elements, by identity, as when `snap` was taken (checked in C)."""
    if len(v) != snap[1]:
        return False
    if snap[0] == "flat":
        if t is dict:
            return all(map(_is, v, snap[2])) and all(map(_is, v.values(), snap[2][len(v) :]))
        return all(map(_is, v, snap[2]))
    return (
        all(map(_is, v, snap[2]))
        and tuple(map(len, v)) == snap[3]
        and all(map(_is, chain.from_iterable(v), snap[4]))
    )
