"""Three answers to "does f(input) halt?", each a `Verdict` with evidence.

- `constant`: always "halts" (CWM's HaltEval reference point: 50% on a
  balanced set).
- `execute`: run it in the sandbox under a budget. It can prove halting
  (it halted) and, with the exact state-repeat detector, non-termination
  where the visible state is the whole state; otherwise it can only say
  "unknown". It never runs the program outside the sandbox.
- `imagine`: the world model rolls the execution out frame by frame, up to
  a budget. "halts" if the imagined execution returns or raises, "loops"
  if the imagined state repeats exactly, otherwise a calibrated
  probability from what the rollout looked like (`calibrate.py`).

Each raises `HaltError` (one line) when the question cannot be asked:
code that does not parse, a missing entry, arguments that are not
expressions. The program's own behaviour, hostile or not, is never an
error: it is an outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from opencwm.halt.repeat import find_repeat
from opencwm.trace.frame import Frame

if TYPE_CHECKING:
    from opencwm.halt.calibrate import Calibration
    from opencwm.sandbox.pool import Sandbox
    from opencwm.world.backends import Backend

LABELS = ("halts", "loops", "unknown")


class HaltError(ValueError):
    """The question could not be asked (bad program or arguments); one line."""


@dataclass(frozen=True)
class Verdict:
    """One predictor's answer. `p_halts` is its probability that the run
    halts (1.0 / 0.0 for proofs, 0.5 for "no idea"); `label` is "unknown"
    for budgeted execution that neither finished nor found a repeat, and
    for an uncalibrated world model whose rollout neither ended nor repeated."""

    predictor: str
    label: str
    p_halts: float
    evidence: str
    seconds: float = 0.0
    frames: int = 0
    features: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.label in LABELS, f"label {self.label!r} not in {LABELS}"
        assert 0.0 <= self.p_halts <= 1.0, f"p_halts {self.p_halts} out of [0, 1]"

    def to_dict(self) -> dict:
        return {
            "predictor": self.predictor,
            "label": self.label,
            "p_halts": round(self.p_halts, 4),
            "evidence": self.evidence,
            "seconds": round(self.seconds, 4),
            "frames": self.frames,
            "features": {k: round(v, 4) for k, v in self.features.items()},
        }


def constant(code: str, entry: str | None, input: str) -> Verdict:
    """Always "halts", without looking."""
    return Verdict("constant", "halts", 1.0, "always answers halts")


@dataclass(frozen=True)
class ExecBudget:
    timeout_s: float = 5.0
    max_frames: int = 20_000


def execute(
    code: str,
    entry: str | None,
    input: str,
    budget: ExecBudget = ExecBudget(),
    sandbox: Sandbox | None = None,
) -> Verdict:
    """Budgeted real execution in the sandbox, with state-repeat proofs."""
    from opencwm.tracer.api import TraceConfig, trace_program

    start = time.perf_counter()
    config = TraceConfig(timeout_s=budget.timeout_s, max_frames=budget.max_frames)
    trace = trace_program(code, entry, input, config=config, sandbox=sandbox)
    seconds = time.perf_counter() - start
    n = len(trace.frames)
    if trace.status == "failed":
        raise HaltError(trace.reason)
    if trace.status in ("returned", "raised"):
        how = "returned" if trace.status == "returned" else "raised"
        return Verdict(
            "execute", "halts", 1.0, f"{how} {trace.result} after {n} frames", seconds, n
        )
    rep = find_repeat(trace.frames, trace.source, proof=True)
    if rep is not None:
        return Verdict("execute", "loops", 0.0, f"proven: {rep.describe()}", seconds, n)
    return Verdict(
        "execute",
        "unknown",
        0.5,
        f"no end and no exact repeat within the budget ({trace.reason}, {n} frames)",
        seconds,
        n,
    )


@dataclass(frozen=True)
class ImagineBudget:
    max_frames: int = 48
    max_tokens: int = 200
    """Tokens the model may write per frame."""
    retries: int = 2
    """A frame that does not parse is asked for again this many times (in
    all), sampled at `retry_temperature`, before the rollout gives up."""
    retry_temperature: float = 0.8


UNCALIBRATED = {(True, False): 0.9, (False, True): 0.1, (False, False): 0.5, (True, True): 0.9}
"""p_halts without a calibration, by (the rollout ended, its state repeated)."""


def imagine(
    code: str,
    entry: str | None,
    input: str,
    backend: Backend,
    budget: ImagineBudget = ImagineBudget(),
    calibration: Calibration | None = None,
) -> Verdict:
    """The world model's verdict (module docstring). Only the entry's call
    frame comes from the real interpreter (the body is not run)."""
    from opencwm.halt.calibrate import features as rollout_features
    from opencwm.world.backends import Sampling
    from opencwm.world.rollout import Imagined, RolloutConfig, real_call_frame

    start = time.perf_counter()
    real = real_call_frame(code, entry, input)
    if real.status == "failed" or not real.frames:
        raise HaltError(real.reason or "the entry could not be called")
    greedy = Sampling(max_tokens=budget.max_tokens)
    config = RolloutConfig(max_frames=budget.max_frames, sampling=greedy)
    world = Imagined(real.source, backend, config)
    world.frames.append(real.frames[0])
    invalid = 0
    repeat = None
    while not world.ended and len(world.frames) < budget.max_frames:
        step = world.step()
        if step.frame is None and not world.ended:
            invalid += 1
            if invalid > budget.retries:
                break
            hot = replace(greedy, temperature=budget.retry_temperature, seed=invalid)
            world.config = replace(config, sampling=hot)
            continue
        world.config = config
        if step.frame is not None:
            repeat = find_repeat(world.frames, proof=False)
            if repeat is not None:
                break
    seconds = time.perf_counter() - start
    frames = world.frames
    feats = rollout_features(frames, world.ended, invalid, budget.max_frames)
    if calibration is not None:
        p = calibration.p_halts(feats)
    else:  # the rule alone, held with some doubt: the model may be wrong
        p = UNCALIBRATED[(world.ended, repeat is not None)]
    n = len(frames)
    if world.ended:
        return Verdict("world", "halts", p, _ending(frames), seconds, n, feats)
    if repeat is not None:
        return Verdict("world", "loops", p, f"imagined {repeat.describe()}", seconds, n, feats)
    label = "unknown" if calibration is None else ("halts" if p >= 0.5 else "loops")
    why = (
        f"gave up after {invalid} unreadable frames"
        if invalid > budget.retries
        else f"no end and no repeat in {budget.max_frames} imagined frames"
    )
    how = "calibrated from the rollout" if calibration else "uncalibrated: no calibration given"
    return Verdict("world", label, p, f"{why}; {how}", seconds, n, feats)


def _ending(frames: list[Frame]) -> str:
    last = frames[-1] if frames else None
    if last is not None and last.event == "return" and last.depth == 0:
        return f"imagined return {last.arg} after {len(frames)} frames"
    if last is not None and last.event == "exception":
        return f"imagined exception {last.arg} after {len(frames)} frames"
    return f"the model ended the trace after {len(frames)} frames"
