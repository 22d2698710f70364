"""Environments for tests and benchmarks: known rewards, chosen latencies, failures.

`LatencyEnv` sleeps (no CPU) for a latency drawn per call from a
log-normal whose spread is a knob: the benchmark's stand-in for sandboxes,
test suites and remote tools, whose latency is heavy-tailed. Its reward is
the fraction of vowels among the characters the policy wrote: smooth, and
nonzero from the start, so a micro model moves it within a few steps. `HangingEnv` and `CrashingEnv`
fail on purpose, so tests can check that a failure ends one episode and
never the run.
"""

from __future__ import annotations

import math
import random
import time

from opencwm.rl.config import LatencyConfig
from opencwm.rl.env import DEFAULT_STOPS
from opencwm.trace import tokens as T
from opencwm.transition import Transition


def draw_latency(cfg: LatencyConfig, rng: random.Random) -> float:
    """Seconds: constant, or log-normal with median `median_s` and log-std `sigma`."""
    if cfg.dist == "constant" or cfg.sigma <= 0:
        return cfg.median_s
    if cfg.dist != "lognormal":
        raise ValueError(f"unknown latency distribution {cfg.dist!r}; known: constant, lognormal")
    return cfg.median_s * math.exp(rng.gauss(0.0, cfg.sigma))


def fake_tasks(n: int = 64) -> list[dict]:
    return [{"id": f"task-{i}", "seed": i} for i in range(n)]


class LatencyEnv:
    """`turns` policy turns; each reset/step sleeps a drawn latency first."""

    stops = DEFAULT_STOPS

    def __init__(
        self, latency: LatencyConfig, turns: int = 1, seed: int = 0, prompt_chars: int = 0
    ) -> None:
        self.latency = latency
        self.filler = ("def f(x):\n    return x + 1\n" * (prompt_chars // 28 + 1))[:prompt_chars]
        self.turns = turns
        self.seed = seed
        self.written = ""

    def reset(self, task: dict) -> Transition:
        self.rng = random.Random(f"{self.seed}/{task.get('episode', task.get('id'))}")
        self.turn = 0
        self.written = ""
        self.slept = self._sleep()
        return Transition(
            f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}{self.filler}{task['id']}{T.FRAME_SEP}"
        )

    def _sleep(self) -> float:
        s = draw_latency(self.latency, self.rng)
        time.sleep(s)
        return s

    def step(self, action: str) -> Transition:
        self.turn += 1
        self.written += action
        self.slept += self._sleep()
        if self.turn >= self.turns:
            text = "".join(c for c in self.written if not c.isspace()) or "?"
            reward = sum(c in "aeiou" for c in text) / len(text)
            return Transition("", reward, True, {"env_sleep_s": round(self.slept, 4)})
        return Transition(T.FRAME_SEP)

    def close(self) -> None:
        pass


class HangingEnv(LatencyEnv):
    """Hangs for `hang_s` in step (a daemon thread sleeping, as a stuck tool would)."""

    def __init__(self, hang_s: float = 3600.0, **kwargs: object) -> None:
        super().__init__(LatencyConfig(), **kwargs)  # type: ignore[arg-type]
        self.hang_s = hang_s

    def step(self, action: str) -> Transition:
        time.sleep(self.hang_s)
        return super().step(action)


class CrashingEnv(LatencyEnv):
    """Raises in step, as a buggy environment would."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(LatencyConfig(), **kwargs)  # type: ignore[arg-type]

    def step(self, action: str) -> Transition:
        raise RuntimeError("the environment fell over")
