"""A warm worker: runs inside bubblewrap and forks one child per job.

Why a fork server: starting bwrap and Python costs tens of milliseconds per
run; forking an interpreter that has already imported the job's code costs
about one. Each child starts a new session, takes the rlimits, drops to the
worker's unprivileged uid (losing every capability), and has stdin, stdout
and stderr on /dev/null: its only way out is the result pipe. The worker
itself never runs untrusted code, keeps the capabilities to kill and to
remove any file, and after every job kills every process left in this pid
namespace and empties /tmp, so nothing a job started (daemons, fork bombs,
files) outlives it or is seen by the next job. Where a job left files it
cannot remove, it says so in the result and exits: the host then starts a
fresh sandbox.

Run as `python -m opencwm.sandbox.worker UID MODULE [MODULE...]`; requests
come on stdin, results go to stdout (see protocol.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import resource
import select
import signal
import sys
import time

from opencwm.sandbox.protocol import read_message, write_message

PIPE_BYTES = 1 << 20
"""Result pipe capacity: the child writes each frame as it happens, so the
pipe must absorb bursts while the worker sleeps between reads."""
READ_PAUSE_S = 0.002
"""Pause between reads once a job has written a lot: draining every small
write would wake the worker (and slow the child) thousands of times."""

GRACE_S = 1.0
"""Time a job gets after its timeout to report a partial result itself."""


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _child(target: str, payload: dict, limits: dict, uid: int | None, out_fd: int) -> None:
    code = 70
    try:
        os.setsid()
        mb = 1024 * 1024
        timeout = float(limits["timeout_s"])
        cpu = limits.get("cpu_s") or int(timeout + 0.999) + 1
        for res, value in (
            (resource.RLIMIT_AS, limits["memory_mb"] * mb),
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
            (resource.RLIMIT_NPROC, limits["nproc"]),
            (resource.RLIMIT_NOFILE, limits["nofile"]),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(res, (value, value))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, out_fd)
        os.closerange(out_fd + 1, 4096)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        _resolve(target)(payload, out_fd, timeout)
        code = 0
    except BaseException:
        code = 71
    finally:
        os._exit(code)


def _collect(pid: int, fd: int, deadline: float, cap: int) -> dict:
    """Read the child's result until it exits, the deadline passes or the cap is hit."""
    chunks: list[bytes] = []
    size = 0
    header: dict = {"timed_out": False, "output_truncated": False}
    pidfd = os.pidfd_open(pid)
    open_fds = [fd, pidfd]
    status = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                header["timed_out"] = True
                break
            ready, _, _ = select.select(open_fds, [], [], remaining)
            if fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.remove(fd)
                else:
                    size += len(chunk)
                    if size > cap:
                        header["output_truncated"] = True
                        break
                    chunks.append(chunk)
                    if size > 65536 and pidfd not in ready:
                        time.sleep(READ_PAUSE_S)
            if pidfd in ready:
                _, status = os.waitpid(pid, 0)
                # drain what the child wrote just before exiting
                while fd in open_fds:
                    r, _, _ = select.select([fd], [], [], 0)
                    chunk = os.read(fd, 1 << 16) if r else b""
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        header["output_truncated"] = True
                        break
                    chunks.append(chunk)
                break
    finally:
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        os.close(fd)
    if os.WIFSIGNALED(status):
        header["signal"] = os.WTERMSIG(status)
    else:
        header["exit_code"] = os.WEXITSTATUS(status)
    header["_output"] = b"".join(chunks)
    return header


def _kill_strays() -> None:
    """Kill everything but us in this pid namespace that we may signal."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def _tmp_dirs(tmp: str = "/tmp") -> set[str]:
    """Directories of the /tmp tmpfs, bind mounts under it left out."""
    dev = os.lstat(tmp).st_dev
    dirs = {tmp}
    for root, subdirs, _ in os.walk(tmp):
        subdirs[:] = [d for d in subdirs if os.lstat(os.path.join(root, d)).st_dev == dev]
        dirs.update(os.path.join(root, d) for d in subdirs)
    return dirs


def _wipe_tmp(skeleton: set[str], tmp: str = "/tmp") -> bool:
    """Empty /tmp back to `skeleton` (its directories before the first job);
    False if something a job left could not be removed.

    Host directories bound under /tmp (a checkout or virtualenv in the
    host's temp dir) are other filesystems that no job can write: walking
    them after every job cost as much as a cold start. So the walk stays on
    the tmpfs, descends into the directories bwrap made to hold the binds
    (a job may write there when it runs as the worker's own uid) and keeps
    them, and removes everything else.
    """
    dev = os.lstat(tmp).st_dev
    clean = True
    made: list[str] = []
    todo = [tmp]
    while todo:  # a loop, not recursion: a job may nest directories thousands deep
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    if entry.stat(follow_symlinks=False).st_dev != dev:
                        continue  # a bind mount: the host's, not the job's
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                        if entry.path not in skeleton:
                            made.append(entry.path)
                    else:
                        os.unlink(entry.path)
        except OSError:  # e.g. a path past PATH_MAX
            clean = False
    for path in reversed(made):  # children before their parents
        try:
            os.rmdir(path)
        except OSError:
            clean = False
    return clean


def serve(uid: int | None, preload: list[str]) -> None:
    for module in preload:
        importlib.import_module(module)
    skeleton = _tmp_dirs()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    while True:
        msg = read_message(0)
        if msg is None:
            return
        req, _ = msg
        limits = req["limits"]
        r, w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(req["target"], req["payload"], limits, uid, w)
        os.close(w)
        deadline = start + float(limits["timeout_s"]) + GRACE_S
        result = _collect(pid, r, deadline, int(limits["max_output_bytes"]))
        _kill_strays()
        clean = _wipe_tmp(skeleton)
        output = result.pop("_output")
        result["duration_s"] = time.monotonic() - start
        result["retire"] = not clean
        write_message(1, result, output)
        if not clean:
            return  # the host starts a fresh sandbox for the next job


def main(argv: list[str]) -> None:
    uid = int(argv[0]) if argv and argv[0] != "-" else None
    serve(uid if os.geteuid() == 0 else None, argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
