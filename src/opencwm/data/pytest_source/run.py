"""Host side: ship the project into the sandbox, run its tests under the
tracer, and assemble what came back into `Trace`s."""

from __future__ import annotations

import importlib.util
import json
import time
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.data.benchmarks import SourceError
from opencwm.data.pytest_source.project import layout, project_files
from opencwm.sandbox.pool import Sandbox
from opencwm.sandbox.result import ExecutionResult, Limits
from opencwm.trace.frame import Frame, Trace
from opencwm.trace.source import add_marker, source_lines

JOB = "opencwm.data.pytest_source.job:run"
MAX_TRACE_BYTES = 2_000_000
"""Bytes of frame output after which one trace is cut (reprs are capped, but
a function with many locals can still write a lot per line)."""


@dataclass
class PytestRun:
    """One run of a project's test suite under the tracer."""

    traces: list[dict] = field(default_factory=list)
    """Source items: {"id", "code", "entry", "input", "trace"}, in call order."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Test outcomes as pytest reported them: passed, failed, skipped, ..."""
    errors: list[str] = field(default_factory=list)
    """The first failures, one line each: tests that failed, test modules
    that could not be collected (a missing dependency, say)."""
    exit_code: int | None = None
    reason: str = ""
    """Empty when the suite ran to its end; otherwise why it stopped."""
    duration_s: float = 0.0


def pytest_traces(
    project_dir: Path,
    package: str,
    *,
    max_calls_per_function: int = 3,
    max_frames: int = 2000,
    repr_cap: int = 200,
    timeout_s: float = 120,
    sandbox: Sandbox | None = None,
) -> Iterator[dict]:
    """Traces of `package`'s functions as the project's own tests call them;
    see `run_pytest`, whose `.traces` these are."""
    run = run_pytest(
        project_dir,
        package,
        max_calls_per_function=max_calls_per_function,
        max_frames=max_frames,
        repr_cap=repr_cap,
        timeout_s=timeout_s,
        sandbox=sandbox,
    )
    yield from run.traces


def run_pytest(
    project_dir: Path,
    package: str,
    *,
    max_calls_per_function: int = 3,
    max_frames: int = 2000,
    repr_cap: int = 200,
    timeout_s: float = 120,
    memory_mb: int = 2048,
    repr_timeout_s: float = 0.5,
    sandbox: Sandbox | None = None,
) -> PytestRun:
    """Run the project's pytest suite in the sandbox and trace each call from
    outside the package into one of its functions (at most
    `max_calls_per_function` per function, `max_frames` per trace).

    A failing test is just a test outcome; a hung suite is stopped at
    `timeout_s` and what was recorded until then is kept. SourceError if
    the project cannot be run at all (no package, no tests, no pytest).
    """
    project_dir = Path(project_dir)
    where = layout(project_dir, package)
    if importlib.util.find_spec("pytest") is None:
        raise SourceError("the pytest source needs pytest in this environment: pip install pytest")
    payload = {
        "files": project_files(project_dir),
        "import_root": where.import_root,
        "package_path": where.package_path,
        "tests": list(where.tests),
        "max_calls": max_calls_per_function,
        "max_frames": max_frames,
        "max_bytes": MAX_TRACE_BYTES,
        "repr_cap": repr_cap,
        "repr_timeout_s": repr_timeout_s,
    }
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=256 * 2**20)
    own = sandbox is None
    box = sandbox or Sandbox(size=1, preload=(JOB.split(":")[0], "pytest"))
    start = time.monotonic()
    try:
        result = box.run(JOB, payload, limits)
    finally:
        if own:
            box.close()
    run = assemble(project_dir, package, where.module_name, result)
    run.duration_s = time.monotonic() - start
    return run


class _Files:
    """Lines of the project's files, read as Python reads them (PEP 263)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self._lines: dict[str, list[str]] = {}

    def lines(self, rel: str) -> list[str]:
        if rel not in self._lines:
            try:
                with tokenize.open(self.project_dir / rel) as fh:
                    self._lines[rel] = source_lines(fh.read())
            except (OSError, SyntaxError, UnicodeDecodeError):
                self._lines[rel] = []
        return self._lines[rel]

    def context(self, rel: str, def_line: int) -> str:
        lines = list(self.lines(rel))
        if 0 < def_line <= len(lines):
            lines[def_line - 1] = add_marker(lines[def_line - 1])
        return "\n".join(lines) + "\n"


def assemble(
    project_dir: Path, package: str, module_name: Callable[[str], str], result: ExecutionResult
) -> PytestRun:
    """Build the run from the job's output lines, however the run ended."""
    files = _Files(project_dir)
    run = PytestRun()
    seen: dict[tuple[str, str], int] = {}
    trace: Trace | None = None
    lines: list[str] = []
    done = None
    output = result.output
    output = output[: output.rfind(b"\n") + 1]  # a killed child may leave half a line
    for raw in output.split(b"\n"):
        if not raw:
            continue
        try:
            item = json.loads(raw)
            if isinstance(item, list):
                event, line, func, depth, locals_, arg = item
                source = lines[line - 1] if 0 < line <= len(lines) else ""
                assert trace is not None, "frame outside a trace"
                trace.frames.append(Frame(event, line, source, func, depth, locals_ or {}, arg))
            elif "begin" in item:
                rel, qualname = item["begin"], item["qualname"]
                module = module_name(rel)
                k = seen[module, qualname] = seen.get((module, qualname), -1) + 1
                lines = files.lines(rel)
                trace = Trace(
                    source=files.context(rel, item["def_line"]),
                    entry=item["name"],
                    input=item["input"],
                    status="truncated",
                )
                run.traces.append(
                    {
                        "id": f"{package}:{module}:{qualname}:{k}",
                        "code": trace.source,
                        "entry": trace.entry,
                        "input": trace.input,
                        "trace": trace,
                    }
                )
            elif "end" in item:
                assert trace is not None, "end outside a trace"
                trace.status, trace.reason = item["end"], item["reason"]
                trace = None
            elif item.get("done"):
                done = item
                break
        except (ValueError, TypeError, KeyError, AssertionError, IndexError):
            run.reason = "the test suite corrupted the tracer's output"
            break
    if done is not None:
        run.exit_code, run.reason = done["exit_code"], done["reason"]
        run.outcomes, run.errors = done["outcomes"], done["errors"]
    elif not run.reason:
        run.reason = result.describe()
    if trace is not None:
        trace.reason = run.reason or "the run ended during the call"
    return run
