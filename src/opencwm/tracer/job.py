"""What the sandboxed child runs: execute the program under the recorder.

Output on `out_fd`: one JSON array per frame (see recorder.py), then one
JSON object with how the run ended: {"status", "reason", "stdout"}. If the
process dies first, the host sees frames without that last line and
reports the kill instead.
"""

from __future__ import annotations

import builtins
import inspect
import io
import json
import os
import random
import sys
import threading

from opencwm.distributed.recorder import ConcurrentRecorder, is_concurrent
from opencwm.trace.source import source_lines
from opencwm.trace.values import TRUNCATED, safe_repr
from opencwm.tracer.recorder import PROGRAM, Clock, Recorder, Stop

STDOUT_CAP = 64 * 1024


class _CappedText(io.TextIOBase):
    """A stdout that keeps the first `cap` characters and drops the rest,
    so a program that prints a gigabyte costs nothing but its own time."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        n = len(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(n, room)
        self.dropped += max(0, n - max(room, 0))
        return n

    def text(self) -> str:
        kept = "".join(self.parts)
        return f"{kept}{TRUNCATED}" if self.dropped else kept


def _refuse_settrace(*args: object) -> None:
    raise RuntimeError("sys.settrace is disabled while opencwm traces this program")


def run(payload: dict, out_fd: int, timeout_s: float) -> None:
    source: str = payload["source"]
    entry: str = payload["entry"]
    script = entry == "<module>"
    lines = source_lines(source)
    status, reason = "failed", ""
    concurrent = is_concurrent(source)  # then every frame names its task/thread/node
    recorder = (ConcurrentRecorder if concurrent else Recorder)(
        lines,
        out_fd,
        max_frames=payload["max_frames"],
        max_bytes=payload["max_bytes"],
        repr_cap=payload["repr_cap"],
    )
    clock = Clock(timeout_s, payload["repr_timeout_s"], recorder.note)
    recorder.call_repr = clock.guarded_repr
    stdout = _CappedText(STDOUT_CAP)
    sys.stdout = sys.stderr = stdout
    sys.stdin = io.TextIOWrapper(io.BytesIO((payload.get("stdin") or "").encode()), "utf-8")
    random.seed(0)
    os.register_at_fork(
        before=lambda: recorder.note("the program tried to fork a process"),
        after_in_child=recorder.detach,
    )
    real_settrace, tracer = sys.settrace, recorder.global_trace

    def guarded_settrace(fn: object) -> None:  # threads the program starts take the tracer
        if fn is not tracer:
            _refuse_settrace()
        real_settrace(fn)

    if concurrent:
        threading.settrace(tracer)
    ns = {"__name__": "__main__" if script else "__program__", "__builtins__": builtins}
    try:
        code = compile(source, PROGRAM, "exec", dont_inherit=True)
        if script:
            sys.settrace = guarded_settrace
            real_settrace(tracer)
            try:
                exec(code, ns)
                status = "returned"
            except Stop:
                raise
            except BaseException:
                status = "raised"
        else:
            try:
                exec(code, ns)
            except Stop:
                raise
            except BaseException as exc:
                raise _Failed(f"module-level code raised {_short(exc)}") from None
            fn = ns.get(entry)
            if not callable(fn):
                raise _Failed(f"entry {entry!r} is not a function defined by the program")
            ns["__opencwm_args__"] = lambda *a, **k: (a, k)
            try:
                call = compile(
                    f"__opencwm_args__({payload['input']})", "<input>", "eval", dont_inherit=True
                )
                args, kwargs = eval(call, ns)
            except Stop:
                raise
            except BaseException as exc:
                raise _Failed(f"evaluating the input raised {_short(exc)}") from None
            try:
                inspect.signature(fn).bind(*args, **kwargs)
            except TypeError as exc:
                raise _Failed(f"the input does not fit {entry}(): {exc}") from None
            except ValueError:
                pass  # no signature to check (a builtin): let the call decide
            sys.settrace = guarded_settrace
            real_settrace(tracer)
            try:
                fn(*args, **kwargs)
                status = "returned"
            except Stop:
                raise
            except RecursionError:
                status = "raised"
                if not recorder.entry_done:  # the tracer itself ran out of stack first
                    recorder.note("recursion too deep to trace (Python's recursion limit)")
            except BaseException:
                status = "raised"
        real_settrace(None)
        if not recorder.entry_done and not recorder.reason:
            recorder.note("the program disabled the tracer")
    except Stop as stop:
        real_settrace(None)
        status = "truncated"
        recorder.note(stop.reason)
    except _Failed as failed:
        real_settrace(None)
        status, reason = "failed", str(failed)
    finally:
        real_settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        clock.cancel()
    if recorder.reason and status != "failed":
        status, reason = "truncated", recorder.reason
    if recorder.out_fd is None:  # a process the program forked: it reports nothing
        return
    end = {"status": status, "reason": reason, "stdout": stdout.text()}
    os.write(out_fd, json.dumps(end, ensure_ascii=False).encode() + b"\n")


class _Failed(Exception):
    pass


def _short(exc: BaseException) -> str:
    return safe_repr(exc, 200)


__all__ = ["run"]
