"""Host side of the sandbox: a pool of warm workers, each in its own bwrap.

`Sandbox.run(target, payload, limits)` runs `target(payload, out_fd,
timeout_s)` (a function importable inside the sandbox) in a fresh forked
child and returns an `ExecutionResult`. A worker that dies or stops
answering is killed with its whole sandbox and replaced; the caller just
gets a result whose `error` says so. With `warm=False` every run starts a
new bwrap and interpreter (slower; used as the benchmark's baseline).

Threads share a pool, so two things are per-thread traps. bwrap's
`--die-with-parent` is `PR_SET_PDEATHSIG`, which fires when the *thread*
that forked it exits, not the process: a worker started by a short-lived
thread (an RL environment call) would be killed under the next job. So
workers are started from one long-lived thread per process. And a thread
waiting for a busy worker must wake when that worker is retired instead of
returned, or it waits for ever: a retired worker leaves a `None` in the
idle queue, which sends a waiter back to start the replacement.
"""

from __future__ import annotations

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from opencwm.sandbox.bwrap import SANDBOX_ENV, bwrap_argv, python_dirs
from opencwm.sandbox.protocol import read_message, write_message
from opencwm.sandbox.result import ExecutionResult, Limits

HOST_MARGIN_S = 5.0
"""Extra time the host waits beyond the worker's own deadline before it
declares the worker hung and kills its sandbox."""

_UIDS = itertools.count()


def _sandbox_uid() -> int:
    """An unprivileged uid no other live sandbox of this host process shares,
    so per-uid process limits and kill-all-of-uid stay per worker."""
    return 100_000 + (os.getpid() % 100_000) * 64 + next(_UIDS) % 64


_spawners: dict[int, ThreadPoolExecutor] = {}
_spawners_lock = threading.Lock()


def _popen(argv: list[str], **kwargs: object) -> subprocess.Popen:
    """`Popen` on this process's spawner thread, which lives as long as the
    process (keyed by pid: a forked child gets its own)."""
    with _spawners_lock:
        spawner = _spawners.get(os.getpid())
        if spawner is None:
            spawner = _spawners[os.getpid()] = ThreadPoolExecutor(1, "sandbox-spawner")
    return spawner.submit(subprocess.Popen, argv, **kwargs).result()


@dataclass
class _Worker:
    proc: subprocess.Popen
    uid: int
    runs: int = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                f.close()


@dataclass
class Sandbox:
    """A pool of `size` warm sandboxed workers, safe to share between threads."""

    size: int = 1
    preload: tuple[str, ...] = ()
    warm: bool = True
    ro_binds: tuple[str, ...] = ()
    """Extra host directories the jobs may read (e.g. a project under test)."""
    _idle: queue.Queue = field(default_factory=queue.Queue, init=False, repr=False)
    _all: list[_Worker] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _started: int = field(default=0, init=False, repr=False)

    def _spawn(self) -> _Worker:
        uid = _sandbox_uid()
        cmd = [sys.executable, "-m", "opencwm.sandbox.worker", str(uid), *self.preload]
        proc = _popen(
            bwrap_argv(cmd, ro_binds=[*python_dirs(), *self.ro_binds]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=SANDBOX_ENV,
            start_new_session=True,
        )
        worker = _Worker(proc, uid)
        with self._lock:
            self._all.append(worker)
        return worker

    def _acquire(self) -> _Worker:
        """An idle live worker, else a new one while the pool has room, else
        the next one returned (or a `None` wake-up: a slot came free)."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = self._start_if_room() or self._idle.get()
            if worker is None:
                continue
            if worker.alive():
                return worker
            self._retire(worker)  # died while idle: not the next job's fault

    def _start_if_room(self) -> _Worker | None:
        with self._lock:
            if self._started >= self.size:
                return None
            self._started += 1
        try:
            return self._spawn()
        except BaseException:
            with self._lock:
                self._started -= 1
            self._idle.put(None)
            raise

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
            self._started -= 1
        self._idle.put(None)

    def run(self, target: str, payload: dict, limits: Limits | None = None) -> ExecutionResult:
        limits = limits or Limits()
        worker = self._acquire()
        start = time.monotonic()
        try:
            result, retire = self._exchange(worker, target, payload, limits)
        except BaseException:
            self._retire(worker)
            raise
        if result.error or retire or not self.warm:
            self._retire(worker)
        else:
            worker.runs += 1
            self._idle.put(worker)
        if result.error:
            return ExecutionResult(b"", error=result.error, duration_s=time.monotonic() - start)
        return result

    def _exchange(
        self, w: _Worker, target: str, payload: dict, limits: Limits
    ) -> tuple[ExecutionResult, bool]:
        """The result, and whether the worker must go: it died, hung, or could
        not clean up after the job."""
        req = {"target": target, "payload": payload, "limits": limits.to_dict()}
        try:
            write_message(w.proc.stdin.fileno(), req)
        except (BrokenPipeError, OSError):
            return ExecutionResult(b"", error=_startup_error(w)), True
        fd = w.proc.stdout.fileno()
        wait = limits.timeout_s + HOST_MARGIN_S + (5.0 if w.runs == 0 else 0.0)
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            error = "sandbox worker stopped answering; its sandbox was killed"
            return ExecutionResult(b"", error=error), True
        msg = read_message(fd)
        if msg is None:
            return ExecutionResult(b"", error=_startup_error(w)), True
        header, output = msg
        result = ExecutionResult(
            output=output,
            exit_code=header.get("exit_code"),
            signal=header.get("signal"),
            timed_out=bool(header.get("timed_out")),
            output_truncated=bool(header.get("output_truncated")),
            duration_s=float(header.get("duration_s", 0.0)),
        )
        return result, bool(header.get("retire"))

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
            self._started = 0
        for w in workers:
            w.kill()
        self._idle = queue.Queue()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _startup_error(w: _Worker) -> str:
    code = w.proc.poll()
    if w.runs == 0 and not (code is not None and code < 0):  # a signal: killed, not broken
        return (
            f"sandbox could not start (bwrap exited with {code}); check that bubblewrap works here"
        )
    return "sandbox worker died during the run (the program killed it); a new one was started"
