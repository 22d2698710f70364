"""Running pytest the harness's way, inside the command sandbox.

One code path serves the task builder (which tests pass, which a bug
breaks) and the reward (did the agent fix it). The harness owns the run:

- config: `-c /dev/null` so the repository's pytest.ini / tox.ini /
  setup.cfg / pyproject options (addopts, plugins, filterwarnings) are
  ignored; no plugin autoloading; `-p no:cacheprovider`; `-rA` for logs;
- imports: pytest is imported before the repository joins `sys.path`, so a
  file named `pytest.py` or `json.py` in the repository cannot replace it;
- results: a recorder plugin writes each test's outcome to a report file,
  stamped with a nonce the launcher read from stdin before any repository
  code ran. Printed `PASSED` lines, a report written by the code under test
  and an `os._exit(0)` that skips the report all fail to count as passes.

Limit: the code under test runs in pytest's own process. Code written to
find the recorder in memory and forge its results is not stopped here; it
is visible in the diff the run logs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.sandbox.command import WORKSPACE, claim_workspace, run_command
from opencwm.sandbox.result import Limits

LAUNCHER = r"""
import json, os, sys

def main():
    nonce = sys.stdin.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    report_path, roots, args = sys.argv[1], sys.argv[2].split(":"), sys.argv[3:]
    import pytest

    def message(report):
        crash = getattr(report.longrepr, "reprcrash", None)
        return (crash.message if crash is not None else str(report.longrepr))[:2000]

    class Recorder:
        tests, messages, errors = {}, {}, []

        def pytest_runtest_logreport(self, report):
            now = self.tests.get(report.nodeid)
            if report.failed:
                if now not in ("failed", "error"):
                    self.tests[report.nodeid] = "failed" if report.when == "call" else "error"
                    self.messages[report.nodeid] = message(report)
            elif report.skipped:
                if now not in ("failed", "error"):
                    self.tests[report.nodeid] = "skipped"
            elif report.when == "call" and now is None:
                self.tests[report.nodeid] = "passed"

        def pytest_collectreport(self, report):
            if report.failed:
                self.errors.append([report.nodeid, message(report)])

        def pytest_sessionfinish(self, session, exitstatus):
            out = {"nonce": nonce, "exitstatus": int(exitstatus), "tests": self.tests,
                   "messages": self.messages, "collect_errors": self.errors}
            with open(report_path, "w") as f:
                json.dump(out, f)

    sys.dont_write_bytecode = True
    sys.path[:0] = [r for r in roots if r]
    return int(pytest.main(args, plugins=[Recorder()]))

sys.exit(main())
"""

PYTEST_ARGS = ("-c", "/dev/null", "--rootdir", WORKSPACE, "-p", "no:cacheprovider", "-rA", "-q")
TEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
LOG_CAP_BYTES = 256 * 1024
"""pytest's output kept per run: past it, the first and last half are kept with
the elided byte count between. The `-rA` summary that log parsers read
(`PASSED id`, `FAILED id - message`) is at the end, so it survives in the
tail unless it alone runs past half the cap (thousands of tests)."""


def import_roots(root: Path) -> list[str]:
    """Where the repository's packages import from inside: src/ layouts too."""
    return [f"{WORKSPACE}/src", WORKSPACE] if (root / "src").is_dir() else [WORKSPACE]


def agent_env(root: Path) -> dict[str, str]:
    """Environment for the agent's own commands: `python -m pytest` just works."""
    return {"PYTHONPATH": ":".join(import_roots(root)), "GIT_PAGER": "cat", "PAGER": "cat"}


@dataclass
class TestRun:
    """What one harness pytest run reported; `error` when there is no trustworthy report."""

    __test__ = False  # not a pytest test class, despite the name

    tests: dict[str, str] = field(default_factory=dict)  # node id -> passed/failed/error/skipped
    messages: dict[str, str] = field(default_factory=dict)  # node id -> failure message
    collect_errors: list[list[str]] = field(default_factory=list)
    exit_code: int | None = None
    report_exitstatus: int | None = None
    duration_s: float = 0.0
    output: str = ""  # pytest's stdout and stderr, capped at log_cap_bytes
    output_truncated: bool = False
    log_cap_bytes: int = LOG_CAP_BYTES
    error: str = ""

    def status(self, test_id: str) -> str:
        return self.tests.get(test_id, "missing")

    def passed(self) -> set[str]:
        return {t for t, s in self.tests.items() if s == "passed"}

    def to_dict(self) -> dict:
        """What a trajectory keeps: the outcome, and the raw log so log-based
        graders (SWE-bench's `parse_log_pytest`) can grade the run again."""
        return {
            "exit_code": self.exit_code,
            "report_exitstatus": self.report_exitstatus,
            "duration_s": round(self.duration_s, 3),
            "collect_errors": self.collect_errors,
            "error": self.error,
            "log": self.output,
            "log_truncated": self.output_truncated,
            "log_cap_bytes": self.log_cap_bytes,
        }


def run_tests(
    root: Path,
    targets: list[str],
    *,
    timeout_s: float = 60.0,
    uid: int | None = None,
    log_cap_bytes: int = LOG_CAP_BYTES,
) -> TestRun:
    """Run pytest on `targets` (files or node ids) in the repository at `root`."""
    uid = claim_workspace(root, uid)
    results = Path(tempfile.mkdtemp(prefix="opencwm-results-"))
    try:
        if uid is not None:
            os.chown(results, uid, uid)
        nonce = secrets.token_hex(16)
        argv = [
            sys.executable,
            "-P",
            "-s",
            "-c",
            LAUNCHER,
            "/results/report.json",
            ":".join(import_roots(root)),
            *PYTEST_ARGS,
            "--",
            *targets,
        ]
        limits = Limits(
            timeout_s=timeout_s,
            memory_mb=2048,
            file_size_mb=64,
            nproc=128,
            nofile=1024,
            max_output_bytes=log_cap_bytes,
        )
        result = run_command(
            argv,
            workspace=root,
            limits=limits,
            stdin=nonce.encode() + b"\n",
            env=TEST_ENV,
            uid=uid,
            rw_binds=[(str(results), "/results")],
        )
        run = TestRun(
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            output=result.output.decode(errors="replace"),
            output_truncated=result.output_truncated,
            log_cap_bytes=log_cap_bytes,
        )
        if result.error or result.timed_out or result.signal:
            run.error = result.describe()
            return run
        try:
            report = json.loads((results / "report.json").read_text())
        except (OSError, ValueError):
            run.error = "no test report: pytest exited before its session finished"
            return run
        if not isinstance(report, dict) or report.get("nonce") != nonce:
            run.error = "the test report was not written by the harness"
            return run
        run.tests = dict(report["tests"])
        run.messages = dict(report["messages"])
        run.collect_errors = list(report["collect_errors"])
        run.report_exitstatus = report["exitstatus"]
        return run
    finally:
        shutil.rmtree(results, ignore_errors=True)
