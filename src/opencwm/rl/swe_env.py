"""The SWE-RL environment (`swe.env.SweEnv`, unchanged) behind the RL interface.

A task is a `swe.Task` as a dict. The first observation is the system
prompt (the tool manual) and the issue; each action is the policy's text
with one `<tool: ...>` call; observations are tool outputs with the budget
notice; the reward is the hidden tests' verdict at the end.
"""

from __future__ import annotations

from pathlib import Path

from opencwm.rl.env import DEFAULT_STOPS
from opencwm.swe.env import EnvConfig, SweEnv
from opencwm.swe.task import RepoStore, Task
from opencwm.transition import Transition


class SweRlEnv:
    stops = DEFAULT_STOPS

    def __init__(self, repos: str | Path, config: EnvConfig | None = None) -> None:
        self.env = SweEnv(RepoStore(Path(repos)), config)

    def reset(self, task: dict) -> Transition:
        tr = self.env.reset(Task.from_dict(task))
        return Transition(f"{tr.info['system']}\n\n{tr.observation}\n", info=dict(tr.info))

    def step(self, action: str) -> Transition:
        tr = self.env.step(action)
        return Transition(tr.observation, tr.reward, tr.terminal, dict(tr.info))

    def close(self) -> None:
        self.env.close()
