"""What the sandboxed child runs: the project's pytest suite under `CallTracer`.

The project arrives as files in the payload and is written to the child's
private /tmp (the sandbox sees nothing of the host's disk, and tests may
write next to themselves). Output on `out_fd`: the tracer's lines (see
tracer.py), then one `{"done": ...}` line with pytest's exit code, test
outcomes and collection errors. On the deadline the open trace is closed
as truncated, the `done` line says so, and the child exits at once: pytest
would otherwise catch the interruption as one failed test and run on.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time

from opencwm.data.pytest_source.project import is_test_file
from opencwm.data.pytest_source.tracer import CallTracer
from opencwm.tracer.recorder import Clock

_settrace = sys.settrace  # the real one: the tests get a guarded one
PROJECT_DIR = "/tmp/opencwm-project"
"""Where the project is written inside the sandbox; fixed so that paths in
traced values are the same on every run."""


class _Outcomes:
    """A pytest plugin that counts test outcomes and keeps the first failures."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            when = "" if report.when == "call" else f" in {report.when}"
            self.counts[report.outcome + when] += 1
        if report.failed:
            self._keep(report)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self._keep(report)

    def _keep(self, report) -> None:
        if len(self.errors) < 20:
            text = str(report.longrepr).strip().splitlines()
            self.errors.append(f"{report.nodeid}: {text[-1] if text else 'failed'}"[:300])


def _unpack(files: dict[str, str]) -> str:
    root = PROJECT_DIR
    try:
        if os.path.exists(root):
            shutil.rmtree(root)
        os.mkdir(root)
    except OSError:
        root = tempfile.mkdtemp(prefix="opencwm-project-")
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
    return root


def _guarded_settrace(tracer: CallTracer):
    """A `sys.settrace` for the tests: putting our tracer back (as doctest does
    with what `sys.gettrace()` gave it) is allowed, anything else refused."""

    def settrace(func: object) -> None:
        if func != tracer.global_trace:
            raise RuntimeError("sys.settrace is disabled while opencwm traces this test suite")

    return settrace


def run(payload: dict, out_fd: int, timeout_s: float) -> None:
    start = time.monotonic()

    def done(exit_code: object, reason: str) -> None:
        record = {
            "done": True,
            "exit_code": exit_code,
            "reason": reason,
            "outcomes": dict(outcomes.counts),
            "errors": outcomes.errors,
            "traces": tracer.traces,
        }
        if tracer.out_fd is not None:
            os.write(out_fd, json.dumps(record).encode() + b"\n")

    def on_timeout(_: str) -> None:
        reason = f"timed out after {timeout_s:g}s"
        _settrace(None)
        tracer.finish(reason)
        done(None, reason)
        os._exit(0)

    root = _unpack(payload["files"])
    package_path = payload["package_path"]

    def is_package_file(rel: str) -> bool:
        inside = rel == package_path or rel.startswith(package_path + "/")
        return inside and not is_test_file(rel)

    outcomes = _Outcomes()
    tracer = CallTracer(
        out_fd,
        root,
        is_package_file,
        max_calls=payload["max_calls"],
        max_frames=payload["max_frames"],
        max_bytes=payload["max_bytes"],
        repr_cap=payload["repr_cap"],
    )
    os.chdir(root)
    sys.path.insert(0, os.path.normpath(os.path.join(root, payload["import_root"])))
    sys.dont_write_bytecode = True
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.register_at_fork(after_in_child=tracer.detach)
    import pytest

    args = [*payload["tests"], "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", root]
    # the worker's deadline counts from the fork: keep ours a little earlier
    left = max(timeout_s - (time.monotonic() - start) - 0.1, 0.1)
    clock = Clock(left, payload["repr_timeout_s"], on_timeout)
    tracer.call_repr = clock.guarded_repr
    random.seed(0)
    exit_code: object = None
    reason = ""
    try:
        sys.settrace = _guarded_settrace(tracer)
        _settrace(tracer.global_trace)
        try:
            exit_code = int(pytest.main(args, plugins=[outcomes]))
        except BaseException as exc:  # a test that escapes pytest (os._exit does not get here)
            reason = f"pytest stopped: {type(exc).__name__}"
    finally:
        _settrace(None)
        sys.settrace = _settrace
        clock.cancel()
    tracer.finish("the test run ended during the call")
    done(exit_code, reason)
