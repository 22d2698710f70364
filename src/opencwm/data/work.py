"""Tracing one chunk of items: the unit of work of every backend.

A chunk is traced twice when determinism is checked; any difference in the
CWM text rejects the item as `nondeterministic`. The function is pure data
in, rows out, so local processes and Ray actors run the same code. An item
with a `check` is traced by its source's own function instead (its trace
settings, its label proven on the trace; a label that fails stops the build).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from opencwm.data.items import Item
from opencwm.data.rows import make_row
from opencwm.trace.cwm import to_cwm
from opencwm.trace.frame import Trace
from opencwm.tracer.api import TraceConfig, trace_program

CHECKS = {"halting": "opencwm.halt.corpus:checked_trace"}
"""`Item.check` -> `f(item, sandbox) -> Trace`, which traces and proves the label."""


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
        run = _runner(item, config, sandbox)
        trace = run()
        status = None
        finished = trace.status in ("returned", "raised")
        if config.check_determinism and finished and to_cwm(run()) != to_cwm(trace):
            status = "nondeterministic"
            trace.reason = "two runs gave different traces"
        rows.append(make_row(index, item, trace, status))
    return rows


def _runner(item: Item, config: WorkConfig, sandbox) -> Callable[[], Trace]:
    if item.check is None:
        return lambda: trace_program(
            item.code,
            item.entry,
            item.input,
            stdin=item.stdin,
            config=config.trace,
            sandbox=sandbox,
        )
    module, _, name = CHECKS[item.check].partition(":")
    checked = getattr(importlib.import_module(module), name)
    return lambda: checked(item, sandbox)
