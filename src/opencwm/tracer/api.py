"""Tracing a program: the host-side entry point of the real world.

`trace_program` checks the program statically (one-line errors for bad
syntax, a missing entry or malformed arguments), runs it under the recorder
in the sandbox, and assembles the `Trace`. Every outcome of the program
itself, including hangs and kills, comes back as a trace status.
"""

from __future__ import annotations

import atexit
import json
import threading
from dataclasses import asdict, dataclass

from opencwm.sandbox.pool import Sandbox
from opencwm.sandbox.result import ExecutionResult, Limits
from opencwm.trace.frame import Frame, Trace
from opencwm.trace.source import source_lines, strip_marker
from opencwm.trace.values import DEFAULT_CAP
from opencwm.tracer import program

JOB = "opencwm.tracer.job:run"


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """Limits of one traced run; hitting one keeps the partial trace."""

    timeout_s: float = 10.0
    max_frames: int = 10_000
    max_bytes: int = 4_000_000
    repr_cap: int = DEFAULT_CAP
    repr_timeout_s: float = 0.5
    memory_mb: int = 1024


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide warm sandbox (one worker), started on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox(size=1, preload=("opencwm.tracer.job",))
            atexit.register(_default.close)
        return _default


def trace_program(
    source: str,
    entry: str | None = None,
    input: str = "",
    *,
    stdin: str | None = None,
    config: TraceConfig = TraceConfig(),
    sandbox: Sandbox | None = None,
) -> Trace:
    """Trace `entry(input)` in `source` (or the whole script) in the sandbox.

    `entry` None means the function marked `# << START_OF_TRACE`, or the
    module body when nothing is marked.
    """
    try:
        tree = program.parse(source)
        entry = program.resolve_entry(source, tree, entry)
        if entry != "<module>":
            program.check_input(input)
        context = program.with_marker(source, tree, entry)
    except program.ProgramError as exc:
        return Trace(
            source=source, entry=entry or "", input=input, status="failed", reason=str(exc)
        )
    payload = {
        "source": context,
        "entry": entry,
        "input": input,
        "stdin": stdin,
        **{k: v for k, v in asdict(config).items() if k not in ("timeout_s", "memory_mb")},
    }
    limits = Limits(
        timeout_s=config.timeout_s,
        memory_mb=config.memory_mb,
        max_output_bytes=config.max_bytes * 2 + 1_000_000,
    )
    result = (sandbox or default_sandbox()).run(JOB, payload, limits)
    return assemble(context, entry, input, result)


def assemble(context: str, entry: str, input: str, result: ExecutionResult) -> Trace:
    """Build the Trace from the job's output lines, however the run ended."""
    lines = [strip_marker(line) for line in source_lines(context)]
    trace = Trace(source=context, entry=entry, input=input)
    raw = [r for r in result.output.split(b"\n") if r]
    end = None
    if raw and raw[-1][:1] == b"{":
        end = raw.pop()
    try:
        items = json.loads(b"[" + b",".join(raw) + b"]")
    except ValueError:
        items = _valid_prefix(raw)  # e.g. a kill cut the last frame short
        end = None
    try:
        if end is not None:
            end = json.loads(end)
            if not isinstance(end, dict):
                raise TypeError("end record is not an object")
        for event, line, func, depth, locals_, arg, *actor in items:  # actor: concurrent only
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            frame = Frame(event, line, text, func, depth, locals_ or {}, arg, *actor[:1])
            trace.frames.append(frame)
    except (ValueError, TypeError, AssertionError, IndexError):
        trace.frames.clear()
        trace.status, trace.reason = "truncated", "the program corrupted the tracer's output"
        return trace
    if end is None:
        trace.status = "truncated"
        trace.reason = result.describe()
    else:
        trace.status, trace.reason = end["status"], end["reason"]
        trace.stdout = end.get("stdout", "")
    return trace


def _valid_prefix(raw: list[bytes]) -> list:
    """Frames up to the first line that does not parse."""
    items = []
    for line in raw:
        try:
            items.append(json.loads(line))
        except ValueError:
            break
    return items
