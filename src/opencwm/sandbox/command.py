"""Run one shell command in a fresh bubblewrap sandbox over a workspace.

Why a fresh sandbox per command and not the warm pool: an agent's commands
are arbitrary programs (bash, git, pytest), not Python functions, and each
must start from a clean process tree. bwrap + prlimit + setpriv cost a few
milliseconds, so a round trip stays far under the 50 ms we aim for.

Protects against (on top of what `bwrap.py` lists):
- resources: per-process rlimits (address space, CPU, file size, processes,
  open files, no core dumps), and where this host lets us create cgroups,
  a cgroup per command capping the whole tree's memory and process count;
  private /tmp is a size-capped tmpfs;
- time: a wall-clock timeout kills the whole tree (the pid namespace dies
  with its first process, so daemons and orphans go too);
- disk: a watchdog kills the command when the workspace grows past a cap;
- privilege: as root, the command runs as an unprivileged uid that owns the
  workspace; no capabilities, no new privileges;
- input: stdin is empty (or the given bytes), so a program waiting for a
  keyboard gets EOF instead of hanging until the timeout;
- output: only a head and a tail are kept, with the elided byte count.

Does not protect against: kernel exploits; memory blow-ups across many
processes on a host without writable cgroups (rlimits are per process);
the disk watchdog's overshoot (about what the disk writes in 0.1 s).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from opencwm.sandbox.bwrap import (
    SANDBOX_ENV,
    SandboxUnavailable,
    bwrap_argv,
    find_bwrap,
    python_dirs,
)
from opencwm.sandbox.result import ExecutionResult, Limits

WORKSPACE = "/workspace"
"""Where the workspace appears inside the sandbox."""

UID_BASE = 7_000_000
"""Sandbox uids for commands start here: above the warm pool's range, so a
command never shares per-uid process counts with a pool worker."""

MAX_WORKSPACE_MB = 256
TMP_MB = 256
FLOOD_BYTES = 64 * 1024 * 1024
"""Output read past this is a flood: the command is killed, not drained."""

_uids = itertools.count()
_cgroups = itertools.count()


def sandbox_uid() -> int:
    """A fresh unprivileged uid: distinct per host process, and within one
    for the next 1024 workspaces (episodes and reward runs) it sets up."""
    return UID_BASE + (os.getpid() % 100_000) * 1024 + next(_uids) % 1024


def claim_workspace(workspace: Path, uid: int | None = None) -> int | None:
    """The uid commands over `workspace` run as, chowning the tree to it once.

    Not root: None (bwrap's user namespace already runs us as ourselves).
    Called again on a tree we own already, it only chowns what is not ours
    (files the host wrote since, e.g. by an edit tool).
    """
    if os.geteuid() != 0:
        return None
    owner = os.lstat(workspace).st_uid
    if uid is None:
        uid = owner if owner >= UID_BASE else sandbox_uid()
    for dirpath, dirnames, filenames in os.walk(workspace):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_uid != uid:
                os.lchown(path, uid, uid)
    os.lchown(workspace, uid, uid)
    return uid


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """SANDBOX_ENV with this interpreter's bin first on PATH, plus `extra`."""
    env = dict(SANDBOX_ENV)
    env["PATH"] = f"{sys.prefix}/bin:{env['PATH']}"
    env.update(extra or {})
    return env


@cache
def _tools() -> tuple[str, str]:
    paths = [os.path.join(d, t) for t in ("prlimit", "setpriv") for d in ("/usr/bin", "/bin")]
    found = [p for p in paths if os.path.exists(p)]
    prlimit = next((p for p in found if p.endswith("prlimit")), None)
    setpriv = next((p for p in found if p.endswith("setpriv")), None)
    if not prlimit or not setpriv:
        raise SandboxUnavailable("prlimit and setpriv (util-linux) are needed in /usr/bin")
    return prlimit, setpriv


@cache
def _bwrap_has_size() -> bool:
    out = subprocess.run([find_bwrap(), "--help"], capture_output=True, text=True).stdout
    return "--size" in out


class _Cgroup:
    """A cgroup (v1 memory+pids, or v2) for one command, when the host allows.

    Made under our own cgroup, so the caps nest inside whatever the host set.
    Without one (not root, read-only cgroupfs) the rlimits alone apply.
    """

    def __init__(self, memory_mb: int, nproc: int) -> None:
        self.dirs: list[str] = []
        name = f"opencwm-{os.getpid()}-{next(_cgroups)}"
        try:
            for base, memory_file in _cgroup_bases():
                d = os.path.join(base, name)
                os.mkdir(d)
                self.dirs.append(d)
                if memory_file:
                    Path(d, memory_file).write_text(str(memory_mb * 1024 * 1024))
                if os.path.exists(os.path.join(d, "pids.max")):
                    Path(d, "pids.max").write_text(str(nproc))
        except OSError:
            self.remove()
            self.dirs = []

    def join_prefix(self) -> list[str]:
        """argv prefix that moves itself into the cgroup, then execs the rest."""
        if not self.dirs:
            return []
        moves = " && ".join(f"echo 0 > {d}/cgroup.procs" for d in self.dirs)
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh"]

    def kill_all(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                for pid in Path(d, "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self, wait: bool = True) -> None:
        """rmdir the cgroups; one still busy (its last processes are exiting)
        is left to a background thread unless `wait`."""
        for d in self.dirs:
            if not _rmdir_cgroup(d, tries=100 if wait else 1):
                _busy.put(d)
                _start_reaper()


_busy: queue.Queue[str] = queue.Queue()
_reaper_lock = threading.Lock()
_reaper: threading.Thread | None = None


def _rmdir_cgroup(d: str, tries: int) -> bool:
    for i in range(tries):
        try:
            os.rmdir(d)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            with contextlib.suppress(OSError):
                for pid in Path(d, "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            if i + 1 < tries:
                time.sleep(0.01)
    return False


def _start_reaper() -> None:
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap, name="cgroup-reaper", daemon=True)
            _reaper.start()
            atexit.register(_drain)


def _reap() -> None:
    while True:
        d = _busy.get()
        if not _rmdir_cgroup(d, tries=500):
            _busy.put(d)  # pragma: no cover - a cgroup busy for 5 s: try again later


def _drain() -> None:
    while not _busy.empty():
        _rmdir_cgroup(_busy.get(), tries=100)


@cache
def _cgroup_bases() -> tuple[tuple[str, str], ...]:
    """(directory to make cgroups in, its memory limit file or "") per hierarchy."""
    if os.geteuid() != 0:
        return ()
    mine: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            mine[c] = path
    root = "/sys/fs/cgroup"
    if os.path.exists(f"{root}/memory/memory.limit_in_bytes") and os.path.isdir(f"{root}/pids"):
        bases = (
            (f"{root}/memory{mine.get('memory', '/')}".rstrip("/"), "memory.limit_in_bytes"),
            (f"{root}/pids{mine.get('pids', '/')}".rstrip("/"), ""),
        )
    elif os.path.exists(f"{root}/cgroup.controllers") and "" in mine:
        base = f"{root}{mine['']}".rstrip("/")
        enabled = Path(base, "cgroup.subtree_control").read_text().split()
        if not {"memory", "pids"} <= set(enabled):
            return ()
        bases = ((base, "memory.max"),)
    else:
        return ()
    if not all(os.access(b, os.W_OK) for b, _ in bases):
        return ()
    for base, _ in bases:  # left by a host process that was killed before it could clean up
        for d in os.listdir(base):
            pid = d.split("-")[1] if d.startswith("opencwm-") else ""
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                _rmdir_cgroup(os.path.join(base, d), tries=1)
    return bases


def _workspace_mb(workspace: Path) -> float:
    total = 0
    for dirpath, _, filenames in os.walk(workspace):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total / 2**20


class _Output:
    """Keeps the first and last `cap // 2` bytes and counts what falls between."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.half:
            del self.tail[: len(self.tail) - self.half]

    def value(self) -> tuple[bytes, bool]:
        tail = bytes(self.tail[-self.half :])
        elided = self.total - len(self.head) - len(tail)
        if elided <= 0:
            return bytes(self.head) + bytes(self.tail), False
        return bytes(self.head) + f"\n[... {elided} bytes elided ...]\n".encode() + tail, True


def run_command(
    command: str | Sequence[str],
    *,
    workspace: Path,
    limits: Limits,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: str = WORKSPACE,
    uid: int | None = None,
    rw_binds: Sequence[tuple[str, str]] = (),
    max_workspace_mb: int = MAX_WORKSPACE_MB,
) -> ExecutionResult:
    """Run `command` (a bash script, or an argv) with `workspace` at /workspace.

    stdout and stderr come back merged, head and tail kept within
    `limits.max_output_bytes`; `output_truncated` says bytes were elided.
    A timeout, a flood of output or a workspace past `max_workspace_mb`
    kills the process tree; the first sets `timed_out`, the others add a
    note to the output and report SIGKILL. Exit codes are bash's: 128+N
    for a command killed by signal N inside.
    """
    workspace = Path(workspace)
    argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
    prlimit, setpriv = _tools()
    if uid is None and os.geteuid() == 0:
        owner = os.lstat(workspace).st_uid
        uid = owner if owner >= UID_BASE else claim_workspace(workspace)
    cpu = limits.cpu_s or int(limits.timeout_s + 0.999) + 1
    mb = 1024 * 1024
    inner = [
        prlimit,
        f"--as={limits.memory_mb * mb}",
        f"--cpu={cpu}",
        f"--fsize={limits.file_size_mb * mb}",
        f"--nproc={limits.nproc}",
        f"--nofile={limits.nofile}",
        "--core=0",
        "--",
    ]
    if uid is not None:
        inner += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    outer = bwrap_argv(
        [*inner, *argv],
        ro_binds=python_dirs(),
        rw_binds=[(str(workspace), WORKSPACE), *rw_binds],
        cwd=cwd,
    )
    if _bwrap_has_size():
        i = outer.index("--tmpfs")
        outer[i:i] = ["--size", str(TMP_MB * mb)]
    cgroup = _Cgroup(limits.memory_mb, limits.nproc)
    stdin_fd = os.memfd_create("stdin") if stdin else os.open(os.devnull, os.O_RDONLY)
    if stdin:
        os.write(stdin_fd, stdin)
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [*cgroup.join_prefix(), *outer],
            stdin=stdin_fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=sandbox_env(env),
            start_new_session=True,
        )
    except OSError as exc:
        cgroup.remove()
        return ExecutionResult(b"", error=f"sandbox could not start: {exc}")
    finally:
        os.close(stdin_fd)
    try:
        out, note, timed_out = _collect(
            proc, workspace, start + limits.timeout_s, limits.max_output_bytes, max_workspace_mb
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        cgroup.kill_all()
        cgroup.remove(wait=False)
    output, truncated = out.value()
    if note:
        output += f"\n[{note}]\n".encode()
    code = proc.returncode
    killed = timed_out or bool(note)
    return ExecutionResult(
        output=output,
        exit_code=None if killed else code,
        signal=signal.SIGKILL if killed else None,
        timed_out=timed_out,
        output_truncated=truncated,
        duration_s=time.monotonic() - start,
    )


def _collect(
    proc: subprocess.Popen, workspace: Path, deadline: float, cap: int, max_mb: int
) -> tuple[_Output, str, bool]:
    """Read until EOF and exit, or until a limit trips: (output, kill note, timed out)."""
    out = _Output(cap)
    fd = proc.stdout.fileno()
    stat = os.statvfs(workspace)
    free_at_start = stat.f_bavail * stat.f_frsize
    next_du = 0.0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return out, "", True
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            out.add(chunk)
            if out.total > FLOOD_BYTES:
                return out, f"killed: more than {FLOOD_BYTES >> 20} MB of output", False
        stat = os.statvfs(workspace)
        grown = (free_at_start - stat.f_bavail * stat.f_frsize) / 2**20
        # the free-space drop is one syscall; walking the tree only happens
        # once the disk as a whole lost more than the cap (it may be others)
        if grown > max_mb and time.monotonic() >= next_du:
            if _workspace_mb(workspace) > max_mb:
                return out, f"killed: the workspace grew past {max_mb} MB", False
            next_du = time.monotonic() + 0.5
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return out, "", True
    return out, "", False
