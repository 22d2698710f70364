"""One step of any environment: the record `reset` and `step` return.

Shared by the SWE environment (`swe/env.py`) and the RL environments
(`rl/`), so an agent loop, a sampler and a trajectory log read the same
thing whichever world produced it. It sits below both: the SWE layer does
not depend on RL, and RL wraps SWE unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Transition:
    # What the agent sees next: the prompt after reset, then each step's
    # answer (a tool's output, feedback). "" once terminal: nothing follows.
    observation: str
    # 0.0 on every step but the last; there, the episode's reward in [0, 1]
    # (every environment here scores a fraction of something).
    reward: float = 0.0
    # True when the episode is over; step() may not be called again.
    terminal: bool = False
    # For logs, metrics and learning, never shown to the policy: timings,
    # format errors; on the terminal step, why the episode ended.
    info: dict = field(default_factory=dict)
    # What the agent did, as the environment received it ("" after reset, and
    # in environments that do not echo it): its reply text, or a function
    # call rendered as JSON ({"name", "arguments", "id"}).
    action: str = ""

    def __post_init__(self) -> None:
        assert not self.terminal or self.observation == "", (
            f"a terminal transition has no observation, got {self.observation[:80]!r}"
        )
        assert self.terminal or self.reward == 0.0, f"reward {self.reward} before the end"
        assert 0.0 <= self.reward <= 1.0, f"reward {self.reward} outside [0, 1]"
