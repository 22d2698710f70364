"""The sandbox pool, one property per test.

Jobs are scripts run by the tracer's job (`opencwm.tracer.job:run`), the one
target importable inside the sandbox; what a script prints comes back in
the job's last output line.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from opencwm.sandbox import bwrap
from opencwm.sandbox.bwrap import SandboxUnavailable, find_bwrap
from opencwm.sandbox.pool import Sandbox
from opencwm.sandbox.result import ExecutionResult, Limits

JOB = "opencwm.tracer.job:run"
QUICK = Limits(timeout_s=5)

WORKER_START = "import os\nprint(open(f'/proc/{os.getppid()}/stat').read().split()[21])\n"
"""Prints the start time of the worker that forked this job: equal across
runs exactly when they share a worker."""


def script(source: str) -> dict:
    return {
        "source": source,
        "entry": "<module>",
        "input": "",
        "stdin": None,
        "max_frames": 100_000,
        "max_bytes": 10_000_000,
        "repr_cap": 200,
        "repr_timeout_s": 0.5,
    }


def printed(result: ExecutionResult) -> str:
    """What the script printed; fails the test if the job did not finish."""
    assert result.ok, result.describe()
    end = json.loads(result.output.splitlines()[-1])
    assert end["status"] == "returned", end
    return end["stdout"]


def run(sb: Sandbox, source: str, limits: Limits = QUICK) -> ExecutionResult:
    return sb.run(JOB, script(source), limits)


# -- warm reuse ----------------------------------------------------------------------


def test_warm_runs_share_one_worker(sandbox):
    assert printed(run(sandbox, WORKER_START)) == printed(run(sandbox, WORKER_START))


def test_warm_run_is_fast(sandbox):
    run(sandbox, "pass\n")  # make sure the worker is up
    start = time.monotonic()
    for _ in range(5):
        assert run(sandbox, "x = 1\n").ok
    assert (time.monotonic() - start) / 5 < 0.5


def test_tmp_file_is_not_seen_by_the_next_run(sandbox):
    # (a Python installed under /tmp is bound read-only inside it, so /tmp need not be empty)
    printed(run(sandbox, "open('/tmp/leak.txt', 'w').write('secret')\n"))
    assert "leak.txt" not in printed(run(sandbox, "import os\nprint(os.listdir('/tmp'))\n"))


def test_global_is_not_seen_by_the_next_run(sandbox):
    printed(run(sandbox, "import builtins, json\nbuiltins.leak = 1\njson.leak = 2\n"))
    check = "import builtins, json\nprint(hasattr(builtins, 'leak'), hasattr(json, 'leak'))\n"
    assert printed(run(sandbox, check)) == "False False\n"


# -- cold mode -----------------------------------------------------------------------


def test_cold_mode_starts_a_fresh_sandbox_per_run():
    with Sandbox(size=1, preload=("opencwm.tracer.job",), warm=False) as cold:
        printed(run(cold, "open('/tmp/leak.txt', 'w').write('secret')\n"))
        assert "leak.txt" not in printed(run(cold, "import os\nprint(os.listdir('/tmp'))\n"))


# -- limits ----------------------------------------------------------------------------


def test_hung_job_times_out_and_its_tree_is_killed(sandbox, assert_nothing_left_running):
    # children and parent all spin in C code, where no Python alarm can reach them
    hang = "import itertools, os\nfor _ in range(3):\n    os.fork()\nsum(itertools.count())\n"
    start = time.monotonic()
    result = run(sandbox, hang, Limits(timeout_s=1, cpu_s=30))  # the wall clock must kill
    assert result.timed_out
    assert "timed out" in result.describe() and "killed" in result.describe()
    assert time.monotonic() - start < 8
    assert_nothing_left_running()


def test_output_over_the_cap_is_cut_and_the_job_killed(sandbox):
    result = run(sandbox, "for i in range(10_000):\n    pass\n", Limits(max_output_bytes=10_000))
    assert result.output_truncated
    assert len(result.output) <= 10_000
    assert "output cap" in result.describe()


# -- a dead worker ---------------------------------------------------------------------


def _kill_worker_of(sb: Sandbox) -> None:
    """SIGKILL the warm worker of `sb`, found by the uid its jobs report."""
    uid = printed(run(sb, "import os\nprint(os.getuid())\n")).strip()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"opencwm.sandbox.worker" in argv and uid.encode() in argv:
            os.kill(int(pid), signal.SIGKILL)
            return
    raise AssertionError(f"no worker process with uid {uid} found")


def test_pool_recovers_after_its_worker_is_killed():
    with Sandbox(size=1, preload=("opencwm.tracer.job",)) as sb:
        _kill_worker_of(sb)
        first = run(sb, "x = 1\n")
        assert first.ok or "died" in first.error, first.describe()
        assert printed(run(sb, "print('back')\n")) == "back\n"


def test_next_run_after_an_idle_worker_died_succeeds():
    with Sandbox(size=1, preload=("opencwm.tracer.job",)) as sb:
        _kill_worker_of(sb)
        time.sleep(0.1)
        result = run(sb, "x = 1\n")
        assert result.ok, result.describe()


def test_a_worker_outlives_the_thread_that_started_it():
    """bwrap's --die-with-parent follows the forking *thread*; RL environment
    calls run on short-lived threads and share one pool."""
    with Sandbox(size=1, preload=("opencwm.tracer.job",)) as sb:
        first: list[str] = []
        t = threading.Thread(target=lambda: first.append(printed(run(sb, WORKER_START))))
        t.start()
        t.join()
        assert printed(run(sb, WORKER_START)) == first[0]


def test_threads_waiting_for_a_worker_that_dies_get_its_replacement():
    jobs = ["import time\ntime.sleep(2)\n", *["print('ok')\n"] * 4]
    with Sandbox(size=1, preload=("opencwm.tracer.job",)) as sb:
        results: dict[int, ExecutionResult] = {}

        def go(i: int) -> None:
            results[i] = run(sb, jobs[i])

        threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(len(jobs))]
        threads[0].start()
        time.sleep(0.5)  # the sleeper holds the only worker; the others queue behind it
        for t in threads[1:]:
            t.start()
        time.sleep(0.5)
        os.killpg(sb._all[0].proc.pid, signal.SIGKILL)
        for t in threads:
            t.join(30)
        assert sorted(results) == list(range(len(jobs))), "a waiting thread never got a worker"
        assert "died" in results[0].error, results[0].describe()
        assert all(printed(results[i]) == "ok\n" for i in range(1, len(jobs)))


# -- missing bubblewrap -------------------------------------------------------------


@pytest.fixture
def no_bwrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))


def test_missing_bwrap_gives_a_one_line_install_hint(no_bwrap):
    with pytest.raises(SandboxUnavailable) as info:
        find_bwrap()
    message = str(info.value)
    assert "\n" not in message
    assert "bwrap" in message and "apt-get install bubblewrap" in message


def test_missing_bwrap_surfaces_from_run(monkeypatch):
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
    with Sandbox(size=1) as sb, pytest.raises(SandboxUnavailable, match="bubblewrap"):
        run(sb, "pass\n")


def test_pool_works_once_bwrap_is_back(monkeypatch):
    sb = Sandbox(size=1, preload=("opencwm.tracer.job",))
    with monkeypatch.context() as m:
        m.setattr(bwrap.shutil, "which", lambda name: None)
        with pytest.raises(SandboxUnavailable):
            run(sb, "pass\n")
    results: list[ExecutionResult] = []
    # a daemon thread: with the bug, run() never returns
    t = threading.Thread(target=lambda: results.append(run(sb, "pass\n")), daemon=True)
    t.start()
    t.join(3)
    try:
        assert results and results[0].ok, "run() did not return within 3 s"
    finally:
        sb.close()


# -- privileges and network --------------------------------------------------------------


def _status_fields(sb: Sandbox) -> dict[str, str]:
    out = printed(run(sb, "print(open('/proc/self/status').read())\n"))
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_job_runs_as_an_unprivileged_uid(sandbox):
    fields = _status_fields(sandbox)
    uids = [int(u) for u in fields["Uid"].split()]
    gids = [int(g) for g in fields["Gid"].split()]
    assert min(uids) >= 100_000 and len(set(uids)) == 1, uids
    assert min(gids) >= 100_000, gids
    assert fields["Groups"].strip() == ""


def test_job_has_no_capabilities(sandbox):
    fields = _status_fields(sandbox)
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapPrm"], 16) == 0
    assert int(fields["CapAmb"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"  # setuid binaries cannot give them back


def test_no_network_interface_but_loopback(sandbox):
    out = printed(run(sandbox, "import socket\nprint(socket.if_nameindex())\n"))
    assert out == "[(1, 'lo')]\n"
