"""Execution environments: output prediction, trace prediction, and their
imagined-feedback variants.

A task is a function and an input (`code`, `entry`, `input`, from a corpus
row or a CRUXEval-format line). An `Executor` says what happens when it
runs: `RealExecutor` traces it in the sandbox (a corpus row's recorded
execution, made in the sandbox by the build, is used as it is), `ImaginedExecutor` asks a
world model to roll it out (`world.rollout`). The environments only see
the executor, so any of them becomes an *imagined-feedback* environment by
swapping it (`ImaginedEnv`), the seed's "imagine actions, receive imagined
feedback", and `ImaginedEnv` can run the real one beside it to measure how
often the two agree and what each costs.

- `OutputEnv`: the prompt is the program with the entry's call frame; the
  policy writes the return frame (`answer="direct"`, the return token is
  put in its mouth) or the whole execution (`answer="trace"`, its last
  frame's value is the answer). Reward 1 when the predicted value equals
  the executed one, checked in the sandbox by `eval.grade` (CRUXEval's
  `assert OUTPUT == PREDICTION`), else 0.
- `TraceEnv`: the policy writes the execution; reward = the fraction of
  frames that match the executed trace position by position (`eval.metrics
  .frame_match`), over the longer of the two, the given call frame excluded.

The policy's text is parsed by the rollout machinery itself (a
`ScriptedBackend` replaying it into `Imagined`), so the environments read
frames exactly as `opencwm eval` does.
"""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from typing import Protocol

from opencwm.eval.grade import grade
from opencwm.eval.metrics import frame_match
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.trace.frame import Frame, Trace
from opencwm.transition import Transition
from opencwm.world.backends import Backend
from opencwm.world.fake import ScriptedBackend
from opencwm.world.rollout import Imagined, RolloutConfig, real_call_frame, rollout, run_on


class Executor(Protocol):
    def run(self, code: str, entry: str, input: str) -> Trace: ...


class RealExecutor:
    """Traces in the sandbox; results are cached (tasks repeat across a group)."""

    def __init__(self, max_frames: int = 2000, timeout_s: float = 10.0) -> None:
        self.max_frames = max_frames
        self.timeout_s = timeout_s

    def run(self, code: str, entry: str, input: str) -> Trace:
        return _real_trace(code, entry, input, self.max_frames, self.timeout_s)


@lru_cache(maxsize=4096)
def _real_trace(code: str, entry: str, input: str, max_frames: int, timeout_s: float) -> Trace:
    from opencwm.tracer.api import TraceConfig, trace_program

    return trace_program(
        code, entry, input, config=TraceConfig(max_frames=max_frames, timeout_s=timeout_s)
    )


class ImaginedExecutor:
    """A world model's rollout instead of the execution (greedy, cached).

    One backend is shared by every episode of a sampler; a local backend
    keeps one KV cache, so calls are serialised by a lock."""

    def __init__(self, backend: Backend, config: RolloutConfig | None = None) -> None:
        self.backend = backend
        self.config = config or RolloutConfig(max_frames=100)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], Trace] = {}

    def run(self, code: str, entry: str, input: str) -> Trace:
        key = (code, entry, input)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = rollout(code, entry, input, self.backend, self.config)[0]
            return self._cache[key]


def call_frame(code: str, entry: str, input: str) -> Trace:
    """The real call frame (arguments bound by Python itself), cached."""
    return _call_frame(code, entry, input)


@lru_cache(maxsize=4096)
def _call_frame(code: str, entry: str, input: str) -> Trace:
    return real_call_frame(code, entry, input)


def parse_answer(context: str, first: Frame, text: str) -> Trace:
    """The policy's frames after `first`, read as the rollout reads a model's."""
    chunks = [c + T.FRAME_SEP for c in text.split(T.FRAME_SEP)[:-1]]
    rest = text.split(T.FRAME_SEP)[-1]
    if rest:
        chunks.append(rest)
    world = Imagined(context, ScriptedBackend(chunks), RolloutConfig(max_frames=len(chunks) + 1))
    world.frames.append(first)
    return run_on(world)[0]


class _ExecEnv:
    """What both execution environments share: the prompt and the real run."""

    answer = "trace"

    def __init__(self, executor: Executor | None = None) -> None:
        self.executor = executor or RealExecutor()
        self.stops = (T.FRAME_SEP,) if self.answer == "direct" else (T.END_OF_TEXT,)

    def reset(self, task: dict) -> Transition:
        self.task = task
        if "frames" in task:  # a corpus row: its recorded execution starts the episode
            self.context = task["context"]
            self.first = Frame.from_dict(json.loads(task["frames"])[0])
        else:
            start = call_frame(task["code"], task.get("entry", "f"), task["input"])
            if start.status == "failed" or not start.frames:
                raise ValueError(f"task {task.get('id')} cannot start: {start.reason}")
            self.context, self.first = start.source, start.frames[0]
        prompt = prompt_text(self.context) + frame_text(self.first, None)
        if self.answer == "direct":
            prompt += T.RETURN_SEP
        return Transition(prompt)

    def _executed(self) -> tuple[Trace, float]:
        t0 = time.monotonic()
        if isinstance(self.executor, RealExecutor) and "frames" in self.task:
            # Recorded by the corpus build, in the sandbox: the same real execution.
            frames = [Frame.from_dict(d) for d in json.loads(self.task["frames"])]
            return Trace(self.context, self.task.get("entry", "f"), frames), 0.0
        trace = self.executor.run(
            self.task["code"], self.task.get("entry", "f"), self.task["input"]
        )
        return trace, time.monotonic() - t0

    def close(self) -> None:
        pass


class OutputEnv(_ExecEnv):
    def __init__(self, executor: Executor | None = None, answer: str = "direct") -> None:
        if answer not in ("direct", "trace"):
            raise ValueError(f"unknown answer mode {answer!r}; known: direct, trace")
        self.answer = answer
        super().__init__(executor)

    def step(self, action: str) -> Transition:
        text = (T.RETURN_SEP + action) if self.answer == "direct" else action
        predicted = parse_answer(self.context, self.first, text)
        real, exec_s = self._executed()
        info: dict = {"exec_s": round(exec_s, 4), "real_status": real.status}
        value = predicted.result if predicted.status == "returned" else None
        info["prediction"] = value
        if real.status != "returned" or real.result is None:
            info["reason"] = f"the execution did not return ({real.status})"
            return Transition("", 0.0, True, info)
        verdict = grade(real.result, value)
        info["reason"] = verdict.reason
        return Transition("", float(verdict.passed), True, info)


class TraceEnv(_ExecEnv):
    answer = "trace"

    def step(self, action: str) -> Transition:
        predicted = parse_answer(self.context, self.first, action)
        real, exec_s = self._executed()
        want, got = real.frames[1:], predicted.frames[1:]
        hits = sum(frame_match(w, g) for w, g in zip(want, got, strict=False))
        reward = hits / max(len(want), len(got), 1)
        info = {"exec_s": round(exec_s, 4), "frames": len(got), "real_frames": len(want)}
        return Transition("", reward, True, info)


class ImaginedEnv:
    """An execution environment whose feedback comes from a world model.

    The reward the policy gets is the imagined one; with `real` given, the
    same action is also scored against the real execution and `info`
    records both rewards, whether they agree, and the seconds each took."""

    def __init__(self, imagined: _ExecEnv, real: _ExecEnv | None = None) -> None:
        self.imagined = imagined
        self.real = real
        self.stops = imagined.stops

    def reset(self, task: dict) -> Transition:
        first = self.imagined.reset(task)
        if self.real is not None:
            self.real.reset(task)
        return first

    def step(self, action: str) -> Transition:
        t0 = time.monotonic()
        out = self.imagined.step(action)
        out.info.update(imagined=True, imagined_s=round(time.monotonic() - t0, 4))
        if self.real is not None:
            t1 = time.monotonic()
            real = self.real.step(action)
            out.info.update(
                real_reward=real.reward,
                real_s=round(time.monotonic() - t1, 4),
                agree=real.reward == out.reward,
            )
        return out

    def close(self) -> None:
        self.imagined.close()
        if self.real is not None:
            self.real.close()
