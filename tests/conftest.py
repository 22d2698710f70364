"""Shared fixtures: one warm sandbox for the whole session, and the checks
that a hostile program left the host as it found it.

Sandboxed job processes run as uids >= 100000 (see `opencwm.sandbox.pool`);
the host and the sandbox workers themselves do not. So "nothing is left
running" means: no process of such a uid is alive below this test process.
Only our own descendants count, because other test sessions on the same
machine may have sandboxes of their own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from opencwm.sandbox.pool import Sandbox
from opencwm.tracer.api import TraceConfig, trace_program

SANDBOX_UID_MIN = 100_000


def _status(pid: str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)


def sandboxed_processes() -> list[str]:
    """Live (non-zombie) processes of a sandbox uid below this process, as
    'pid uid state name' lines for the failure message."""
    info: dict[int, tuple[int, int, str, str]] = {}  # pid -> (ppid, uid, state, name)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            st = _status(pid)
        except OSError:  # exited while we looked
            continue
        uid = int(st["Uid"].split()[0])
        info[int(pid)] = (int(st["PPid"]), uid, st["State"], st["Name"].strip())

    def ours(pid: int) -> bool:
        seen = set()
        while pid in info and pid not in seen:
            seen.add(pid)
            pid = info[pid][0]
            if pid == os.getpid():
                return True
        return False

    return [
        f"{pid} uid={uid} {state} {name}"
        for pid, (_, uid, state, name) in info.items()
        if uid >= SANDBOX_UID_MIN and not state.startswith("Z") and ours(pid)
    ]


def _assert_nothing_left_running(within_s: float = 3.0) -> None:
    # SIGKILL is delivered asynchronously: a killed process may show for a
    # few milliseconds more, so poll briefly before calling it a survivor.
    deadline = time.monotonic() + within_s
    while (left := sandboxed_processes()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"sandboxed processes still running: {left}"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One warm worker shared by every test that traces."""
    sb = Sandbox(size=1, preload=("opencwm.tracer.job",))
    yield sb
    sb.close()


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the whole test session (tests/data, tests/rl)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 * 1024 * 1024,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def assert_nothing_left_running() -> Callable[..., None]:
    """Call it to assert that no sandboxed process survives (polls up to 3 s)."""
    return _assert_nothing_left_running


PROBE = "def probe(n):\n    return n + 1\n"


@pytest.fixture
def assert_host_unharmed(sandbox: Sandbox) -> Callable[[], None]:
    """Call it after a hostile run: nothing of the run is left running, and
    the shared sandbox still traces an ordinary program correctly."""

    def check() -> None:
        _assert_nothing_left_running()
        config = TraceConfig(timeout_s=5)
        trace = trace_program(PROBE, "probe", "41", config=config, sandbox=sandbox)
        assert (trace.status, trace.result) == ("returned", "42"), (trace.status, trace.reason)

    return check
