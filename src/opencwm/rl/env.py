"""The environment interface of RL, and the guard every call goes through.

In the spirit of CWM's `rl/envs/api.py`: an environment is two methods.

    env.reset(task) -> Transition   (the first observation: the prompt)
    loop: the policy writes an action (text, up to one of `env.stops`)
          env.step(action) -> Transition   (observation, reward, terminal)

Observations are text appended to the policy's context, so an episode is
one token sequence: observation, action, observation, action, ...; only
action tokens are trained. Multi-turn environments return non-terminal
transitions; single-turn ones end at the first step.

Environments run code, sleep on networks and sandboxes, and are written by
others: every call runs on its own daemon thread under a wall-clock limit
(`EnvCall`). A call that raises or overruns ends *that episode* with a
recorded reason (`failed`), never the run. What it cannot do: stop a
thread that really hangs in Python; the thread is abandoned (daemon, so it
never blocks exit) and its environment is discarded. Environments that can
hang in C should isolate themselves (the sandbox-backed ones do: each
sandbox job has its own timeout and is killed with its process tree).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from opencwm.trace import tokens as T
from opencwm.transition import Transition

FORMAT_VERSION = 1


class Env(Protocol):
    stops: tuple[str, ...]
    """Special tokens that end the policy's turn (besides its token budget)."""

    def reset(self, task: dict) -> Transition: ...
    def step(self, action: str) -> Transition: ...
    def close(self) -> None: ...


class EnvCall:
    """One environment call on its own daemon thread, polled without blocking."""

    def __init__(self, fn: Callable[[], Transition], timeout_s: float, what: str) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.started = time.monotonic()
        self._result: Transition | None = None
        self._error: str = ""
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(fn,), daemon=True, name=f"env-{what}").start()

    def _run(self, fn: Callable[[], Transition]) -> None:
        try:
            result = fn()
            if not isinstance(result, Transition):
                raise TypeError(f"{self.what} returned {type(result).__name__}, not a Transition")
            self._result = result
        except BaseException as exc:  # the environment's failure is data, not ours
            self._error = f"crash: {self.what} raised {type(exc).__name__}: {str(exc)[:200]}"
        self._done.set()

    def poll(self) -> tuple[Transition | None, str] | None:
        """None while running; then (transition, "") or (None, reason)."""
        if self._done.is_set():
            return self._result, self._error
        if time.monotonic() - self.started > self.timeout_s:
            return None, f"timeout: {self.what} took longer than {self.timeout_s:g}s"
        return None

    def wait(self) -> tuple[Transition | None, str]:
        self._done.wait(max(0.0, self.timeout_s - (time.monotonic() - self.started)))
        out = self.poll()
        return out if out is not None else (None, f"timeout: {self.what}")


def guarded(
    fn: Callable[[], Transition], timeout_s: float, what: str
) -> tuple[Transition | None, str]:
    """Blocking form of `EnvCall`: (transition, "") or (None, why it failed)."""
    return EnvCall(fn, timeout_s, what).wait()


DEFAULT_STOPS = (T.FRAME_SEP, T.END_OF_TEXT)
