"""The child's observer: a `sys.settrace` hook that turns calls into the
package under test into function-level traces.

One trace at a time. With none open, a call to a named, non-generator
function of a package file whose caller is *not* package code (a test, a
fixture, the stdlib) opens a trace, unless that function already has
`max_calls` traces. While a trace is open, every activation of code from
the entry's own file (nested calls, recursion, comprehensions, callbacks)
is recorded inline, deeper, exactly as `opencwm.tracer.recorder` records a
program; everything else is opaque. The trace closes when the entry's
activation is left, or is cut at `max_frames` (the entry then runs on
untraced). Output on `out_fd`, one JSON value per line, as it happens:

    {"begin": REL_PATH, "qualname", "name", "def_line", "input"}
    [event, line, func, depth, locals, arg]        (a frame, as recorder.py)
    {"end": STATUS, "reason": REASON}
"""

from __future__ import annotations

import ast
import dis
import inspect
import json
import os
import re
import sys
from collections.abc import Callable

from opencwm.trace.tokens import UNCHANGED
from opencwm.trace.values import TRUNCATED, AddressNumbering, safe_repr

_settrace = sys.settrace
_RETURN_OPS = {
    dis.opmap[n] for n in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST") if n in dis.opmap
}
_LAZY = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_LITERAL_TYPES = (str, int, float, complex, bytes, bool, type(None), list, tuple, dict, set)
_AT_ADDRESS = re.compile(r"(?<= at )0x[0-9a-fA-F]{6,16}")
"""An address inside a string (what a `__repr__` or `__str__` returned)."""
INPUT_CAP = 2000
"""Longest argument list written as an input; longer ones give input ""."""


class _File:
    """A file of the project; for the package's own files (`package`), its
    def lines, computed once from its syntax tree."""

    def __init__(self, rel: str, path: str, package: bool) -> None:
        self.rel = rel
        self.package = package
        self.def_line: dict[int, int] = {}  # first line of a def (its decorators) -> def line
        self.entries: set[tuple[int, str]] = set()  # (first line, name) of named functions
        if not package:
            return
        try:
            with open(path, "rb") as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError, ValueError):
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                self.def_line[first] = node.lineno
                if not isinstance(node, ast.ClassDef):
                    self.entries.add((first, node.name))


class _Open:
    """The trace being recorded."""

    def __init__(self, file: _File) -> None:
        self.file = file
        self.depth = -1
        self.frames = 0
        self.bytes = 0
        self.live: set = set()  # frame objects of this trace's activations
        self.numbering = AddressNumbering()


class CallTracer:
    """`global_trace` goes to `sys.settrace`. Files under `project_root` are
    the project's; `is_package_file(relative path)` says which of them are
    the package's own code."""

    def __init__(
        self,
        out_fd: int,
        project_root: str,
        is_package_file: Callable[[str], bool],
        *,
        max_calls: int,
        max_frames: int,
        max_bytes: int,
        repr_cap: int,
        call_repr: Callable[[object], str] = repr,
    ) -> None:
        self.out_fd: int | None = out_fd
        self.prefix = project_root.rstrip("/") + "/"
        self.is_package_file = is_package_file
        self.max_calls = max_calls
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.repr_cap = repr_cap
        self.call_repr = call_repr
        self.files: dict[str, _File | None] = {}  # None: not a file of the project
        self.codes: dict[int, tuple[object, _File | None]] = {}  # id(code) -> (code, file)
        self.counts: dict[int, int] = {}  # id(code) -> traces begun
        self.open: _Open | None = None
        self.traces = 0
        self.errors = 0

    # -- classification ----------------------------------------------------
    def _file_of(self, code) -> _File | None:
        hit = self.codes.get(id(code))
        if hit is not None:
            return hit[1]
        name = code.co_filename
        if name not in self.files:
            rel = name[len(self.prefix) :] if name.startswith(self.prefix) else None
            self.files[name] = rel and _File(rel, name, self.is_package_file(rel))
        file = self.files[name]
        self.codes[id(code)] = (code, file)  # the reference keeps id(code) unique
        return file

    def _is_entry(self, code, file: _File) -> bool:
        return (
            not code.co_flags & _LAZY
            and bool(code.co_flags & inspect.CO_NEWLOCALS)
            and (code.co_firstlineno, code.co_name) in file.entries
        )

    # -- trace hooks -------------------------------------------------------
    def _called_from_package(self, frame) -> bool:
        """Whether the nearest caller that is project code is package code.
        Frames of other code (stdlib, pytest) are looked through: a callback
        that the package hands to `re.sub` is still called from inside."""
        back = frame.f_back
        while back is not None:
            file = self._file_of(back.f_code)
            if file is not None:
                return file.package
            back = back.f_back
        return False

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        file = self._file_of(code)
        if file is None or not file.package:
            return None
        try:
            current = self.open
            if current is not None:
                return self._call(frame, current) if file is current.file else None
            if self.counts.get(id(code), 0) >= self.max_calls or not self._is_entry(code, file):
                return None
            if self._called_from_package(frame):
                return None
            self.counts[id(code)] = self.counts.get(id(code), 0) + 1
            return self._begin(frame, file)
        except Exception as exc:
            return self._fail(exc)

    def local_trace(self, frame, event, arg):
        current = self.open
        if current is None or frame not in current.live:
            frame.f_trace = None  # left over from a trace that has ended
            return None
        try:
            return self._event(frame, event, arg, current)
        except Exception as exc:
            return self._fail(exc)

    def _begin(self, frame, file: _File):
        code = frame.f_code
        self._write(
            {
                "begin": file.rel,
                "qualname": code.co_qualname,
                "name": code.co_name,
                "def_line": file.def_line.get(code.co_firstlineno, code.co_firstlineno),
                "input": call_input(frame),
            }
        )
        self.open = _Open(file)
        self.traces += 1
        return self._call(frame, self.open)

    def _call(self, frame, current: _Open):
        current.depth += 1
        current.live.add(frame)
        code = frame.f_code
        line = frame.f_lineno
        if line == 0 or line == code.co_firstlineno:
            line = current.file.def_line.get(code.co_firstlineno, code.co_firstlineno)
        self._frame(current, "call", line, code.co_name, self._locals(frame, current), None)
        return self.local_trace if self.open is current else None

    def _event(self, frame, event, arg, current: _Open):
        code, line = frame.f_code, frame.f_lineno
        if event == "line":
            self._frame(current, "line", line, code.co_name, self._locals(frame, current), None)
        elif event == "return":
            returned = code.co_code[frame.f_lasti] in _RETURN_OPS
            if returned:
                self._frame(current, "return", line, code.co_name, None, self._repr(arg, current))
            current.live.discard(frame)
            current.depth -= 1
            if current.depth < 0 and self.open is current:
                self._end("returned" if returned else "raised", "")
        elif event == "exception":
            value = self._repr(arg[1], current)
            self._frame(current, "exception", line, code.co_name, None, value)
        return self.local_trace if self.open is current else None

    # -- output ------------------------------------------------------------
    def _frame(self, current: _Open, event, line, func, locals_, arg) -> None:
        n = self._write([event, line, func, current.depth, locals_, arg])
        current.frames += 1
        current.bytes += n
        if current.frames >= self.max_frames:
            self._end("truncated", f"frame limit reached ({self.max_frames} frames)")
        elif current.bytes >= self.max_bytes:
            self._end("truncated", f"trace size limit reached ({self.max_bytes} bytes)")

    def _end(self, status: str, reason: str) -> None:
        current, self.open = self.open, None
        if current is not None:
            for f in current.live:
                f.f_trace = None
            self._write({"end": status, "reason": reason})

    def _fail(self, exc: Exception) -> None:
        self.errors += 1
        self._end("truncated", f"tracer error: {type(exc).__name__}: {exc}")

    def finish(self, reason: str) -> None:
        """Close the open trace, if any, as cut short by `reason`."""
        self._end("truncated", reason)

    def _write(self, value: object) -> int:
        if self.out_fd is None:
            return 0
        data = json.dumps(value, ensure_ascii=False).encode() + b"\n"
        os.write(self.out_fd, data)
        return len(data)

    def detach(self) -> None:
        """In a process a test forked: record nothing more."""
        self.out_fd = None
        self.open = None
        _settrace(None)

    # -- values ------------------------------------------------------------
    def _repr(self, value: object, current: _Open) -> str:
        cap, numbering = self.repr_cap, current.numbering
        text = safe_repr(value, cap, call_repr=self.call_repr, numbering=numbering)
        if " at 0x" in text:  # e.g. a returned "<function f at 0x7f...>": number it too
            text = _AT_ADDRESS.sub(lambda m: numbering(m.group(0)), text)
        return f"<repr {text}>" if text == UNCHANGED else text

    def _locals(self, frame, current: _Open) -> dict[str, str]:
        module = frame.f_code.co_name == "<module>"
        return {
            name: self._repr(value, current)
            for name, value in frame.f_locals.items()
            if name[0] != "." and not (module and name[:2] == "__")
        }


def call_input(frame) -> str:
    """The call's arguments as CRUXEval-style text (`'a', 2, key=[3]`) if
    every one is a literal whose repr evaluates back to it, else ""."""
    code = frame.f_code
    names = code.co_varnames
    values = frame.f_locals
    n, k = code.co_argcount, code.co_kwonlyargcount
    parts = [_literal(values.get(name, _MISSING)) for name in names[:n]]
    i = n + k
    if code.co_flags & inspect.CO_VARARGS:
        star = values.get(names[i], _MISSING)
        parts += [_literal(v) for v in star] if type(star) is tuple else [None]
        i += 1
    keywords = [(name, values.get(name, _MISSING)) for name in names[n : n + k]]
    if code.co_flags & inspect.CO_VARKEYWORDS:
        extra = values.get(names[i], _MISSING)
        keywords += list(extra.items()) if type(extra) is dict else [("", _MISSING)]
    for name, value in keywords:
        text = _literal(value)
        parts.append(f"{name}={text}" if text is not None and str(name).isidentifier() else None)
    if any(p is None for p in parts):
        return ""
    text = ", ".join(parts)  # type: ignore[arg-type]
    return text if len(text) <= INPUT_CAP else ""


_MISSING = object()


def _literal(value: object) -> str | None:
    if not _is_literal(value, 0):
        return None
    text = safe_repr(value, INPUT_CAP)
    if text.endswith(TRUNCATED):
        return None
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return text if same else None


def _is_literal(value: object, depth: int) -> bool:
    t = type(value)
    if t not in _LITERAL_TYPES or depth > 20:
        return False
    if t is dict:
        items = value.items()  # type: ignore[attr-defined]
        return len(items) <= INPUT_CAP and all(
            _is_literal(k, depth + 1) and _is_literal(v, depth + 1) for k, v in items
        )
    if t in (list, tuple, set):
        return len(value) <= INPUT_CAP and all(_is_literal(x, depth + 1) for x in value)  # type: ignore[arg-type, attr-defined]
    return True
