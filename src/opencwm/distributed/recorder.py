"""The recorder for concurrent programs: every frame names its actor.

A program is concurrent when it imports `threading`, `asyncio` or
`concurrent.futures`, or embeds our runtime (`runtime.RUNTIME_MARK`); only
then does the job use `ConcurrentRecorder`, so a program of one activity is
traced by the plain `Recorder`, byte for byte as before.

An actor is decided when an activation starts (a call, or a coroutine or
generator resuming) and kept until it ends:
- a handler the runtime's `Net.deliver` calls belongs to the receiving node;
- an activation called from a traced one inherits its caller's actor;
- else the running asyncio task's name, else the thread's name (`main`
  for the main thread).
Depth counts within an actor. Runtime classes are opaque; a call of
`Net.send` / `Net.deliver` is written as a `send` / `recv` frame holding
the message. Task switches need no event of their own: consecutive frames
of different actors are one.

Limits: an asyncio task's actor is its name (`Task-N` unless named), which
is stable within a run; thread interleavings follow the OS scheduler, so
only programs on our runtime (or asyncio's single thread) are reproducible.
"""

from __future__ import annotations

import re
import sys
import threading

from opencwm.distributed.runtime import MESSAGE_CALLS, RUNTIME_MARK
from opencwm.tracer.recorder import PROGRAM, Recorder, Stop, _quote

_CONCURRENT_IMPORT = re.compile(
    r"^\s*(?:import|from)\s+(?:threading|asyncio|concurrent\.futures)\b", re.MULTILINE
)
MAIN = "main"
"""Actor of the main thread outside any task or node."""


def is_concurrent(source: str) -> bool:
    """Whether `source` may run several activities (see the module doc)."""
    return RUNTIME_MARK in source or _CONCURRENT_IMPORT.search(source) is not None


def runtime_lines(lines: list[str]) -> frozenset[int]:
    """Line numbers of the classes marked as runtime, bodies included."""
    out: set[int] = set()
    for i, text in enumerate(lines):
        if not (text.lstrip().startswith("class ") and text.rstrip().endswith(RUNTIME_MARK)):
            continue
        indent = len(text) - len(text.lstrip())
        out.add(i + 1)
        for j in range(i + 1, len(lines)):
            body = lines[j]
            if body.strip() and len(body) - len(body.lstrip()) <= indent:
                break
            out.add(j + 1)
    return frozenset(out)


class ConcurrentRecorder(Recorder):
    """`Recorder` whose rows carry a seventh field, the actor."""

    def __init__(self, lines: list[str], out_fd: int, **kwargs) -> None:
        super().__init__(lines, out_fd, **kwargs)
        self.runtime = runtime_lines(lines)
        self._kinds: dict[object, str | None] = {}  # code -> None | "opaque" | "send" | "recv"
        self._where: dict[object, tuple[str, int]] = {}  # live frame -> (actor, depth)
        self._depths: dict[str, int] = {}
        self._entry = None
        self._lock = threading.Lock()

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != PROGRAM or self.entry_done:
            return None
        try:
            kind = self._kinds.get(code, 0)
            if kind == 0:
                kind = self._kinds[code] = self._kind(code)
            if kind is not None:
                if kind != "opaque":
                    self._message(kind, frame.f_locals)
                return None
            actor = self._actor(frame)
            depth = self._depths.get(actor, -1) + 1
            self._depths[actor] = depth
            self._where[frame] = (actor, depth)
            if self._entry is None:
                self._entry = frame
            self._write(
                frame, "call", self._call_line(frame), code.co_name, self._locals(frame), "null"
            )
            return self.local_trace
        except Exception as exc:
            self._fail(exc)

    def _kind(self, code) -> str | None:
        if code.co_firstlineno not in self.runtime:
            return None
        return MESSAGE_CALLS.get(code.co_qualname, "opaque")

    def _actor(self, frame) -> str:
        back = frame.f_back
        if back is not None:
            where = self._where.get(back)
            if where is not None:
                return where[0]
            if self._kinds.get(back.f_code) == "recv":
                return _name(back.f_locals["dst"])
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None:
            loop = asyncio._get_running_loop()
            task = asyncio.current_task(loop) if loop is not None else None
            if task is not None:
                return _name(task.get_name())
        thread = threading.current_thread()
        return MAIN if thread is threading.main_thread() else _name(thread.name)

    def _message(self, event: str, args: dict) -> None:
        if self.out_fd is None:
            return
        actor = _name(args["src"] if event == "send" else args["dst"])
        body = ",".join(f"{_quote(k)}:{_quote(self._repr(args[k]))}" for k in ("src", "dst", "msg"))
        with self._lock:
            self._emit(f'["{event}",0,"",0,{{{body}}},null,{_quote(actor)}]\n')

    def _leave(self, frame) -> None:
        self._texts.pop(frame, None)
        actor, depth = self._where.pop(frame)
        self._depths[actor] = depth - 1
        if frame is self._entry:
            self.entry_done = True

    def _write(
        self, frame, event: str, line: int, func: str, locals_json: str, arg_json: str
    ) -> None:
        if self.out_fd is None:
            return
        if self.reason:  # another thread hit a limit: end this one too
            raise Stop(self.reason)
        self._last = (frame, event)
        actor, depth = self._where[frame]
        who = _quote(actor)
        row = f'["{event}",{line},{_quote(func)},{depth},{locals_json},{arg_json},{who}]\n'
        with self._lock:
            self._emit(row)


def _name(x: object) -> str:
    """An actor name as the formats can carry it: no `]`, no newline."""
    return str(x).replace("]", ")").replace("\n", " ")
