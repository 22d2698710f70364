"""What running untrusted code produced: data, never an exception.

A hang, a crash, a kill or a memory blow-up is an ordinary outcome of the
code we run, so it comes back as fields of `ExecutionResult` for the caller
to turn into a trace status or a reward.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one sandboxed run.

    `timeout_s` is wall-clock time; the run gets that long to finish on its
    own and a short grace to report, then its whole process tree is killed.
    """

    timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: int | None = None  # defaults to the wall timeout, rounded up, + 1
    file_size_mb: int = 16
    nproc: int = 64
    nofile: int = 256
    max_output_bytes: int = 64 * 1024 * 1024

    def to_dict(self) -> dict:
        return {
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "cpu_s": self.cpu_s,
            "file_size_mb": self.file_size_mb,
            "nproc": self.nproc,
            "nofile": self.nofile,
            "max_output_bytes": self.max_output_bytes,
        }


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """Bytes the job wrote to its result channel, and how its process ended.

    `error` is set when the sandbox itself failed (worker died, could not
    start); the job's own failures show in `exit_code` / `signal` /
    `timed_out` / `output_truncated`.
    """

    output: bytes
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    output_truncated: bool = False
    duration_s: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """One line saying how the run ended, for a trace's `reason`."""
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f}s; process tree killed"
        if self.output_truncated:
            return "result exceeded the output cap; process tree killed"
        if self.signal is not None:
            name = signal.Signals(self.signal).name if self.signal in _SIGNALS else str(self.signal)
            hint = {
                "SIGKILL": " (memory or process limit, or killed)",
                "SIGXCPU": " (CPU time limit)",
                "SIGSEGV": " (crashed, e.g. C stack overflow)",
            }.get(name, "")
            return f"process killed by {name}{hint}"
        if self.exit_code:
            return f"process exited with code {self.exit_code} before finishing"
        return "finished"


_SIGNALS = {int(s) for s in signal.Signals}
