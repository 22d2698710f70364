"""Tracing one chunk of items: the unit of work of every backend.

A chunk is traced twice when determinism is checked; any difference in the
CWM text rejects the item as `nondeterministic`. The function is pure data
in, rows out, so local processes and Ray actors run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opencwm.data.items import Item
from opencwm.data.rows import make_row
from opencwm.trace.cwm import to_cwm
from opencwm.tracer.api import TraceConfig, trace_program


@dataclass(frozen=True, slots=True)
class WorkConfig:
    trace: TraceConfig = field(default_factory=lambda: TraceConfig(timeout_s=5.0, max_frames=2_000))
    check_determinism: bool = True


_sandbox = None


def _get_sandbox():
    """One warm sandbox per worker process, started on first use."""
    global _sandbox
    if _sandbox is None:
        from opencwm.sandbox.pool import Sandbox

        _sandbox = Sandbox(size=1, preload=("opencwm.tracer.job",))
    return _sandbox


def trace_chunk(chunk: list[tuple[int, dict]], config: WorkConfig) -> list[dict]:
    """(index, item dict) pairs in, one row each out, in the same order."""
    sandbox = _get_sandbox()
    rows = []
    for index, raw in chunk:
        item = Item.from_dict(raw)
        if item.trace is not None:
            rows.append(make_row(index, item, item.trace))
            continue
        trace = trace_program(
            item.code,
            item.entry,
            item.input,
            stdin=item.stdin,
            config=config.trace,
            sandbox=sandbox,
        )
        status = None
        if config.check_determinism and trace.status in ("returned", "raised"):
            again = trace_program(
                item.code,
                item.entry,
                item.input,
                stdin=item.stdin,
                config=config.trace,
                sandbox=sandbox,
            )
            if to_cwm(again) != to_cwm(trace):
                status = "nondeterministic"
                trace.reason = "two runs gave different traces"
        rows.append(make_row(index, item, trace, status))
    return rows
