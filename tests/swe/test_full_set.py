"""The oracle resolves, and the null agent fails, every task of the real build.

Slow (minutes): run with `pytest -m slow tests/swe/test_full_set.py` after
`opencwm swe build --out data/swe`. Point SWE_TASKS at another tasks.jsonl
to check a different build.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opencwm.swe.env import EnvConfig
from opencwm.swe.runner import RunConfig, run
from opencwm.swe.task import load_tasks

TASKS = Path(os.environ.get("SWE_TASKS", Path(__file__).parents[2] / "data/swe/tasks.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["oracle", "null"])
def test_every_built_task(agent, tmp_path):
    if not TASKS.exists():
        pytest.skip(f"no built tasks at {TASKS}; run `opencwm swe build --out {TASKS.parent}`")
    tasks = load_tasks(TASKS)
    config = RunConfig(tasks, TASKS.parent / "repos", agent, workers=2,
                       env=EnvConfig(scratch=tmp_path))  # fmt: skip
    trajectories = run(config)
    want = agent == "oracle"
    wrong = [(t["instance_id"], t["verdict"]["reason"]) for t in trajectories
             if t["resolved"] != want]  # fmt: skip
    assert not wrong, wrong[:10]
