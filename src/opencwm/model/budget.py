"""Training that fits a time budget: the schedule planned from measured pace.

A run given `time_budget` seconds (counted from the start of the `train`
command, or of the `train` call, so imports and data preparation are in
it) times its steps, its evals and its saves, and plans how many steps
fit before the deadline: the steps, the evals and saves they bring, the
final eval and save, and a little slack. The first steps are not timed
(compilation, allocator warm-up); the first plan comes after a few timed
steps, with one eval and one save run then to measure them (the first of
each kind pays for compilation and imports, so it is dropped from the
estimate once there is a second). The plan is remade as the pace settles
(after twice as many timed steps each time) and shrunk at any step where
the steps left would overrun.

The learning rate follows warm-up then a cosine that reaches `min_lr` on
the last planned step. A re-plan moves the end, not the past: the cosine
goes on from the point it had reached, stretched or squeezed over the
steps now left, so the rate never jumps. The warm-up is set by the first
plan: `warmup` steps, at most a tenth of the planned run.

Resuming: a run started again with a budget goes on from its last
checkpoint along its own curve and fits the rest of that curve into the
new budget (a plain `steps` run, too: its cosine is continued, not
restarted). Started again without a budget, it runs the rest of its last
plan. A run that reached its planned end has nothing left to do; to train
its weights further, copy them to a new directory (a warm start: new
optimizer, new schedule).

What this cannot do: the budget does not cover the interpreter's start-up
before the command runs (about half a second) nor the process's exit
after the last save; a pace that suddenly collapses (a machine shared
with other work) can still end the last step past the deadline by about
a step.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

SKIP = 2
"""Steps not timed at the start of a process: compilation, first allocations."""
PLAN_AFTER = 3
"""Timed steps before the first plan; re-plans after 6, 12, 24, ..."""
RECENT = 64
"""Step times averaged into the pace."""
SLACK = 0.02
"""Share of the budget kept back (at least `MIN_SLACK_S`) for jitter."""
MIN_SLACK_S = 0.5
REASONS = ("first", "settle", "overrun", "resume")
"""Why a plan was made: the first one, the pace settling, the steps left
overrunning the deadline, a resumed run fitting its new budget."""

_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s)?")


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `45m`, `1h30m`, `1.5h` or a plain number of seconds."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.fullmatch(text)
        if not text or not match:
            raise ValueError(
                f"cannot read the duration {text!r}; write e.g. 90s, 45m or 1h30m"
            ) from None
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = 3600 * h + 60 * m + s
    if not 0 < seconds < math.inf:
        raise ValueError(f"a time budget must be more than zero and finite, not {text!r}")
    return seconds


@dataclass
class Schedule:
    """Linear warm-up over `warmup` steps, then a cosine from the peak rate
    that reaches the floor at step `end` (0-based). From `anchor` on, the
    cosine's progress runs linearly from `anchor_progress` to 1: that is
    how a re-plan keeps the curve it has drawn so far."""

    warmup: int
    end: int
    anchor: int = 0
    anchor_progress: float = 0.0

    def progress(self, step: int) -> float:
        if step < self.warmup:
            return 0.0
        a, p = (self.anchor, self.anchor_progress)
        if a < self.warmup:
            a, p = self.warmup, 0.0
        if self.end <= a:
            return 1.0
        return min(1.0, p + (1 - p) * (step - a) / (self.end - a))

    def lr(self, step: int, peak: float, floor: float) -> float:
        if step < self.warmup:
            return peak * (step + 1) / self.warmup
        return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * self.progress(step)))

    def replanned(self, step: int, end: int) -> Schedule:
        """From `step` (whose rate stays as it was) on to the floor at `end`;
        the steps before it have run and are not looked at again."""
        return Schedule(self.warmup, end, step, self.progress(step))


def typical(seconds: list[float]) -> float:
    """The recent cost of a repeated job; the first is left out once there
    are others (it pays for compilation, imports, first allocations)."""
    recent = (seconds[1:] if len(seconds) > 1 else seconds)[-3:]
    return sum(recent) / len(recent)


class Costs:
    """Measured seconds of a training step, an eval and a save."""

    def __init__(self) -> None:
        self.untimed = 0
        self.last = 0.0  # the latest step, timed or not
        self.steps: list[float] = []
        self.evals: list[float] = []
        self.saves: list[float] = []

    def step_took(self, seconds: float) -> None:
        self.last = seconds
        if self.untimed < SKIP:
            self.untimed += 1
        else:
            self.steps.append(seconds)

    @property
    def step_s(self) -> float:
        recent = self.steps[-RECENT:]
        return sum(recent) / len(recent)

    @property
    def eval_s(self) -> float:
        return typical(self.evals)

    @property
    def save_s(self) -> float:
        return typical(self.saves)

    def cost(self, step: int, n: int, eval_every: int, save_every: int) -> float:
        """Seconds for steps `step + 1 .. step + n`, with their evals and saves
        and the last step's eval and save."""
        if n <= 0:
            return 0.0
        end = step + n
        evals = end // eval_every - step // eval_every + (end % eval_every != 0)
        saves = end // save_every - step // save_every + (end % save_every != 0)
        return n * self.step_s + evals * self.eval_s + saves * self.save_s


@dataclass
class Plan:
    """One plan, as recorded in the history and the run's config."""

    at_step: int
    steps: int
    warmup: int
    seconds_left: float
    step_s: float
    eval_s: float
    save_s: float
    reason: str  # one of REASONS


class Budget:
    """The planner of a budgeted run: call `needs_costs`, then `propose` and
    `apply` before every step (`propose` on one rank, `apply` on all)."""

    def __init__(
        self,
        seconds: float,
        deadline: float,
        c_warmup: int,
        eval_every: int,
        save_every: int,
        schedule: Schedule | None,
        plans: list[dict] | None = None,
    ) -> None:
        """`schedule` and `plans`: a resumed run's, from its saved state."""
        self.seconds, self.deadline = seconds, deadline
        self.c_warmup, self.eval_every, self.save_every = c_warmup, eval_every, save_every
        self.resumed = schedule is not None
        self.schedule = schedule or Schedule(c_warmup, 1 << 62)
        self.costs = Costs()
        self.plans = [Plan(**p) for p in plans or []]
        self.made = 0  # plans made by this process
        self.next_settle = 2 * PLAN_AFTER

    @property
    def slack(self) -> float:
        return max(MIN_SLACK_S, SLACK * self.seconds)

    @property
    def total(self) -> int | None:
        """Steps in all, once planned (None before the first plan)."""
        return self.schedule.end + 1 if self.made or self.resumed else None

    def needs_costs(self) -> bool:
        """Whether an eval and a save should run now to be timed: once, at
        the first plan, before any has run."""
        return len(self.costs.steps) >= PLAN_AFTER and not (self.costs.evals and self.costs.saves)

    def fit(self, step: int, now: float) -> int:
        """How many more steps fit before the deadline."""
        left = self.deadline - now - self.slack
        c, e, s = self.costs, self.eval_every, self.save_every
        if c.cost(step, 1, e, s) > left:
            return 0
        lo, hi = 1, max(2, int(left / c.step_s) + 1)
        while lo + 1 < hi:  # the cost grows with n: the last n that fits
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if c.cost(step, mid, e, s) <= left else (lo, mid)
        return lo

    def propose(self, step: int, now: float) -> tuple[int | None, str]:
        """(steps in all, why) when the plan should change now, else (None, "")."""
        timed = len(self.costs.steps)
        if timed < PLAN_AFTER or not (self.costs.evals and self.costs.saves):
            # before the first plan: stop only if even one more step would overrun
            if now + 2 * self.costs.last > self.deadline - self.slack:
                return step, "overrun"
            return None, ""
        total = self.total
        if total is None or (self.resumed and not self.made):
            return step + self.fit(step, now), "resume" if self.resumed else "first"
        if timed >= self.next_settle:
            return step + self.fit(step, now), "settle"
        # shrink once half the slack would go: the pace's jitter alone does not
        left = self.deadline - now - self.slack / 2
        if self.costs.cost(step, total - step, self.eval_every, self.save_every) > left:
            return step + self.fit(step, now), "overrun"
        return None, ""

    def apply(self, step: int, total: int | None, reason: str, now: float) -> Plan | None:
        """Adopt `total` steps in all (None: no change); the new plan, if any."""
        if reason in ("first", "resume", "settle"):
            self.next_settle = 2 * len(self.costs.steps)
        if total is None or (total == self.total and self.made):
            return None
        if self.total is None and not self.resumed:
            # the first plan sets the warm-up: at most a tenth of the run
            self.schedule = Schedule(min(self.c_warmup, max(1, total // 10)), total - 1)
        else:
            self.schedule = self.schedule.replanned(step, total - 1)
        have = bool(self.costs.steps and self.costs.evals and self.costs.saves)
        plan = Plan(
            at_step=step,
            steps=total,
            warmup=self.schedule.warmup,
            seconds_left=round(self.deadline - now, 2),
            step_s=round(self.costs.step_s, 4) if have else 0.0,
            eval_s=round(self.costs.eval_s, 3) if have else 0.0,
            save_s=round(self.costs.save_s, 3) if have else 0.0,
            reason=reason,
        )
        self.plans.append(plan)
        self.made += 1
        return plan

    def record(self) -> dict:
        """What the run's config keeps of its budget."""
        return {
            "time_budget_s": self.seconds,
            "planned_steps": self.total,
            "schedule": asdict(self.schedule),
            "plans": [asdict(p) for p in self.plans],
        }
