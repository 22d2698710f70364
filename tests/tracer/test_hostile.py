"""Hostile programs: each attacks one property of the tracer and its sandbox.

Every test checks three things: the run ends with a clear outcome (a status
and a reason or result that says what happened), nothing it started is left
running, and the host is unharmed (the shared sandbox still traces an
ordinary program). Limits are small so the whole file stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opencwm.trace.values import TRUNCATED
from opencwm.tracer.api import TraceConfig, trace_program
from opencwm.tracer.job import STDOUT_CAP

QUICK = TraceConfig(timeout_s=2)
GB = 10**9


def run(sandbox, source, entry="g", *, config=QUICK, **kw):
    return trace_program(source, entry, config=config, sandbox=sandbox, **kw)


# -- time ----------------------------------------------------------------------


def test_infinite_python_loop_hits_a_limit(sandbox, assert_host_unharmed):
    src = "def g():\n    i = 0\n    while True:\n        i += 1\n"
    trace = run(sandbox, src)
    assert trace.status == "truncated"
    assert "frame limit" in trace.reason or "timed out" in trace.reason, trace.reason
    assert_host_unharmed()


def test_loop_stuck_in_c_code_is_killed_by_the_wall_clock(sandbox, assert_host_unharmed):
    # sum() never returns to the interpreter, so no Python-level alarm can fire;
    # 1.5 s keeps the CPU rlimit (rounded up, + 1) clear of the wall-clock kill
    src = "import itertools\ndef g():\n    return sum(itertools.count())\n"
    start = time.monotonic()
    trace = run(sandbox, src, config=TraceConfig(timeout_s=1.5))
    assert trace.status == "truncated"
    assert "timed out" in trace.reason and "killed" in trace.reason, trace.reason
    assert time.monotonic() - start < 8
    assert [f.event for f in trace.frames] == ["call", "line"]  # partial trace kept
    assert_host_unharmed()


# -- processes -------------------------------------------------------------------


def test_fork_bomb_is_contained(sandbox, assert_host_unharmed):
    src = (
        "import os\n"
        "def g():\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    trace = run(sandbox, src, config=TraceConfig(timeout_s=1))
    assert (trace.status, trace.reason) == ("truncated", "the program tried to fork a process")
    assert_host_unharmed()


def test_fork_bomb_hits_the_process_limit(sandbox, assert_host_unharmed):
    src = "import os\ndef g():\n    while True:\n        os.fork()\n"
    trace = run(sandbox, src)
    assert (trace.status, trace.reason) == ("truncated", "the program tried to fork a process")
    last = trace.frames[-1]
    assert (last.event, last.arg) == (
        "exception",
        "BlockingIOError(11, 'Resource temporarily unavailable')",
    )
    assert_host_unharmed()


def test_daemonised_child_does_not_survive(sandbox, assert_host_unharmed):
    src = (
        "import os, time\n"
        "def g():\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(1000)\n"
        "    return 1\n"
    )
    trace = run(sandbox, src)
    assert (trace.status, trace.reason) == ("truncated", "the program tried to fork a process")
    assert trace.frames[-1].arg == "1"  # the parent's own trace is complete
    assert_host_unharmed()


def test_os_exit_keeps_the_partial_trace(sandbox, assert_host_unharmed):
    src = "import os\ndef g():\n    x = 1\n    os._exit(3)\n"
    trace = run(sandbox, src)
    assert trace.status == "truncated"
    assert "exited with code 3" in trace.reason, trace.reason
    assert [(f.event, f.line) for f in trace.frames] == [("call", 2), ("line", 3), ("line", 4)]
    assert trace.frames[-1].locals == {"x": "1"}
    assert_host_unharmed()


@pytest.mark.parametrize("target", ["os.getppid()", "1"], ids=["parent", "pid1"])
def test_sigkill_to_the_sandbox_is_refused(sandbox, assert_host_unharmed, target):
    src = f"import os, signal\ndef g():\n    os.kill({target}, signal.SIGKILL)\n    return 1\n"
    trace = run(sandbox, src)
    assert trace.status == "raised"
    assert trace.result.startswith("PermissionError"), trace.result
    assert_host_unharmed()


# -- memory and recursion ---------------------------------------------------------


def test_memory_bomb_gets_memory_error(sandbox, assert_host_unharmed):
    src = "def g():\n    x = []\n    while True:\n        x.append('a' * 10**7)\n"
    trace = run(sandbox, src, config=TraceConfig(timeout_s=5, memory_mb=256))
    if trace.status == "truncated":  # killed instead of raising: also acceptable
        assert "killed" in trace.reason, trace.reason
    else:
        assert (trace.status, trace.result) == ("raised", "MemoryError()")
    assert_host_unharmed()


def test_plain_deep_recursion_is_contained(sandbox, assert_host_unharmed):
    """The recorder runs deeper than the program, so it meets Python's recursion
    limit first: the trace is cut there, with that reason, and frames kept."""
    src = "def g(n=0):\n    return g(n + 1)\n"
    trace = run(sandbox, src)
    assert trace.status == "truncated"
    assert "recursion too deep to trace" in trace.reason
    assert len(trace.frames) > 900
    assert_host_unharmed()


def test_deep_recursion_with_raised_limit_hits_a_limit(sandbox, assert_host_unharmed):
    src = "import sys\nsys.setrecursionlimit(10**6)\ndef g(n=0):\n    return g(n + 1)\n"
    trace = run(sandbox, src)
    assert trace.status == "truncated"
    assert any(s in trace.reason for s in ("frame limit", "timed out", "SIGSEGV")), trace.reason
    assert trace.frames
    assert_host_unharmed()


# -- output --------------------------------------------------------------------------


def test_printing_a_gigabyte_in_a_loop_keeps_stdout_capped(sandbox, assert_host_unharmed):
    # 10**5 prints of 10**4 characters; map keeps the loop out of the frame count
    src = (
        "import itertools\n"
        "def g():\n"
        "    list(map(print, itertools.repeat('x' * 9999, 10**5)))\n"
        "    return 1\n"
    )
    trace = run(sandbox, src, config=TraceConfig(timeout_s=10))
    assert (trace.status, trace.result) == ("returned", "1"), trace.reason
    kept = ("x" * 9999 + "\n") * (STDOUT_CAP // 10_000) + "x" * (STDOUT_CAP % 10_000)
    assert trace.stdout == kept + TRUNCATED
    assert_host_unharmed()


def test_one_gigabyte_write_keeps_stdout_capped(sandbox, assert_host_unharmed):
    src = "import sys\ndef g():\n    return sys.stdout.write('x' * 10**9)\n"
    trace = run(sandbox, src, config=TraceConfig(timeout_s=10, memory_mb=2048))
    assert (trace.status, trace.result) == ("returned", str(GB)), trace.reason
    assert trace.stdout == "x" * STDOUT_CAP + TRUNCATED
    assert_host_unharmed()


# -- files, network ----------------------------------------------------------------


def _write_to(path: Path) -> str:
    return (
        "import os\n"
        "def g():\n"
        f"    os.makedirs({str(path.parent)!r}, exist_ok=True)\n"
        f"    with open({str(path)!r}, 'w') as f:\n"
        "        f.write('pwned')\n"
        "    return 'written'\n"
    )


def test_write_to_host_tmp_stays_in_the_sandbox(sandbox, assert_host_unharmed, tmp_path):
    # /tmp inside is a private tmpfs: the write succeeds there, not here
    target = tmp_path / "escape" / "file.txt"
    trace = run(sandbox, _write_to(target))
    assert (trace.status, trace.result) == ("returned", "'written'"), trace.reason
    assert not target.parent.exists()
    assert_host_unharmed()


@pytest.mark.parametrize(
    "target",
    [Path("/etc/opencwm-escape/file.txt"), Path(__file__).parent / "opencwm-escape.txt"],
    ids=["etc", "project"],
)
def test_write_to_host_directories_fails(sandbox, assert_host_unharmed, target):
    trace = run(sandbox, _write_to(target))
    assert trace.status == "raised"
    assert trace.result.startswith(("OSError", "PermissionError", "FileNotFoundError")), (
        trace.result
    )
    assert not target.exists()
    assert_host_unharmed()


def test_huge_file_in_tmp_hits_the_file_size_limit(sandbox, assert_host_unharmed):
    src = "def g():\n    f = open('/tmp/big', 'w')\n    f.write('x' * 10**8)\n"
    trace = run(sandbox, src)
    assert trace.status == "raised"
    assert trace.result == "OSError(27, 'File too large')"
    assert_host_unharmed()


def test_network_connection_fails(sandbox, assert_host_unharmed):
    src = (
        "import socket\ndef g():\n    return socket.create_connection(('1.1.1.1', 80), timeout=1)\n"
    )
    trace = run(sandbox, src)
    assert trace.status == "raised"
    assert trace.result.startswith(("OSError", "TimeoutError", "ConnectionError")), trace.result
    assert_host_unharmed()


@pytest.mark.parametrize("path", ["/root/.bashrc", "/etc/shadow"])
def test_reading_host_secrets_fails(sandbox, assert_host_unharmed, path):
    if not Path(path).exists():
        pytest.skip(f"{path} does not exist on this host")
    trace = run(sandbox, f"def g():\n    return open({path!r}).read()\n")
    assert trace.status == "raised"
    assert trace.result.startswith(("FileNotFoundError", "PermissionError")), trace.result
    assert_host_unharmed()


def test_reading_project_files_fails(sandbox):
    trace = run(sandbox, f"def g():\n    return open({__file__!r}).read()[:20]\n")
    assert trace.status == "raised", trace.result


# -- the tracer itself ------------------------------------------------------------


def test_settrace_none_is_refused(sandbox, assert_host_unharmed):
    src = "import sys\ndef g():\n    sys.settrace(None)\n    return 1\n"
    trace = run(sandbox, src)
    assert trace.status == "raised"
    assert "sys.settrace is disabled" in trace.result, trace.result
    assert_host_unharmed()


def test_tracing_continues_after_a_caught_settrace(sandbox):
    src = (
        "import sys\n"
        "def g():\n"
        "    try:\n"
        "        sys.settrace(None)\n"
        "    except RuntimeError:\n"
        "        pass\n"
        "    x = 1\n"
        "    return x\n"
    )
    trace = run(sandbox, src)
    assert (trace.status, trace.result) == ("returned", "1")
    assert trace.frames[-2].locals == {"x": "1"}


def test_repr_that_raises_is_described(sandbox, assert_host_unharmed):
    src = (
        "class A:\n"
        "    def __repr__(self):\n"
        "        raise ValueError('no')\n"
        "def g():\n"
        "    a = A()\n"
        "    return a\n"
    )
    trace = run(sandbox, src)
    assert (trace.status, trace.result) == ("returned", "<repr of A failed: ValueError>")
    assert trace.frames[-2].locals == {"a": "<repr of A failed: ValueError>"}
    assert_host_unharmed()


def test_repr_that_sleeps_forever_times_out(sandbox, assert_host_unharmed):
    src = (
        "import time\n"
        "class A:\n"
        "    def __repr__(self):\n"
        "        time.sleep(1000)\n"
        "def g():\n"
        "    a = A()\n"
        "    return 1\n"
    )
    config = TraceConfig(timeout_s=5, repr_timeout_s=0.2)
    trace = run(sandbox, src, config=config)
    assert (trace.status, trace.result) == ("returned", "1"), trace.reason
    assert trace.frames[-2].locals == {"a": "<repr of A timed out>"}
    assert_host_unharmed()


def test_huge_repr_is_capped_and_marked(sandbox, assert_host_unharmed):
    src = (
        "class A:\n"
        "    def __repr__(self):\n"
        "        return 'a' * 10**7\n"
        "def g():\n"
        "    a = A()\n"
        "    return a\n"
    )
    trace = run(sandbox, src, config=TraceConfig(timeout_s=5, repr_cap=100))
    assert trace.status == "returned"
    assert trace.frames[-2].locals["a"] == "a" * 100 + "<...>"
    assert trace.result == "a" * 100 + "<...>"
    assert_host_unharmed()


# -- script mode ---------------------------------------------------------------------


def test_script_reads_its_stdin(sandbox):
    src = "import sys\ndata = sys.stdin.read()\nprint(len(data.split()), data.upper())\n"
    trace = trace_program(src, stdin="a b c\n", config=QUICK, sandbox=sandbox)
    assert trace.status == "returned", trace.reason
    assert trace.entry == "<module>"
    assert trace.stdout == "3 A B C\n\n"


def test_script_input_past_the_end_of_stdin_raises_eof(sandbox):
    src = "x = input()\ny = input()\n"
    trace = trace_program(src, stdin="one\n", config=QUICK, sandbox=sandbox)
    assert trace.status == "raised"
    assert trace.frames[-1].arg == "EOFError('EOF when reading a line')"


# -- limits keep the partial trace ------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (TraceConfig(timeout_s=5, max_frames=50), "frame limit reached (50 frames)"),
        (TraceConfig(timeout_s=5, max_bytes=5_000), "trace size limit reached (5000 bytes)"),
        (TraceConfig(timeout_s=1), "timed out after 1s"),
    ],
    ids=["frames", "bytes", "time"],
)
def test_limit_keeps_the_partial_trace(sandbox, config, reason):
    src = (
        "import time\n"
        "def g():\n"
        "    i = 0\n"
        "    while True:\n"
        "        i += 1\n"
        "        time.sleep(0.01)\n"
    )
    trace = run(sandbox, src, config=config)
    assert (trace.status, trace.reason) == ("truncated", reason)
    assert len(trace.frames) > 10
    assert trace.frames[0].event == "call"
    assert trace.frames[-1].locals["i"].isdigit()
    if config.max_frames == 50:
        assert len(trace.frames) == 50


# -- static failures: nothing runs ----------------------------------------------------


class NoSandbox:
    """Fails the test if anything reaches the sandbox."""

    def run(self, *args, **kwargs):
        raise AssertionError("a statically bad program reached the sandbox")


def _static(source: str, entry: str | None = "g", input: str = ""):
    trace = trace_program(source, entry, input, sandbox=NoSandbox())
    assert trace.status == "failed"
    assert trace.frames == []
    assert "\n" not in trace.reason
    return trace.reason


def test_syntax_error_reason_names_the_line():
    assert "line 3" in _static("def g():\n    return 1\n  x = = 2\n")


def test_missing_entry_lists_the_defined_functions():
    reason = _static("def f():\n    pass\ndef h():\n    pass\n", entry="main")
    assert "'main'" in reason and "defined: f, h" in reason


def test_bad_input_string_is_refused():
    assert "bad input" in _static("def g(x):\n    return x\n", input="1 2")


def test_input_that_smuggles_a_second_expression_is_refused():
    assert "bad input" in _static("def g(x):\n    return x\n", input="1) or (2")


def test_input_that_closes_the_call_and_calls_again_is_refused():
    assert "bad input" in _static("def g(x):\n    return x\n", input="1)(2")


def test_wrong_number_of_arguments_is_reported(sandbox):
    trace = run(sandbox, "def g(a):\n    return a\n", input="1, 2")
    assert trace.status == "failed" and not trace.frames
    assert trace.reason == "the input does not fit g(): too many positional arguments"
