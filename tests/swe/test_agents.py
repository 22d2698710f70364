"""Agents without a server: the scripted fake model, the oracle's fallback, the factory."""

from __future__ import annotations

import pytest
from swe_helpers import bash

from opencwm.swe.agents import LLMAgent, OracleAgent, file_patches, hunks, make_agent
from opencwm.swe.protocols import ScriptedModel
from opencwm.swe.runner import run_episode, summarize
from opencwm.swe.tools import ToolCall


def test_llm_agent_with_the_scripted_model(numbers_task, make_env):
    old, new = hunks(numbers_task.patch)[0]
    path = numbers_task.meta["path"]
    model = ScriptedModel([
        bash("python -m pytest -q tests 2>&1 | tail -1"),
        ToolCall("edit", {"path": path, "search": old, "replace": new}),
    ])  # fmt: skip
    traj = run_episode(make_env(), LLMAgent(model), numbers_task, "llm")
    assert traj["resolved"], traj["verdict"]["reason"]
    assert [t["tool"] for t in traj["turns"]] == ["bash", "edit", "submit"]
    assert [m["role"] for m in model.seen[-1]] == ["system", "user"] + ["assistant", "user"] * 2


def test_oracle_falls_back_to_git_apply_when_a_hunk_is_not_unique(numbers_task, make_env):
    path = numbers_task.meta["path"]
    env = make_env()
    first = env.reset(numbers_task)
    # the hunk's text now occurs twice, so the oracle's edit must fail
    env.step(bash(f"cp {path} /tmp/copy && cat /tmp/copy >> {path}"))
    oracle = OracleAgent()
    oracle.start(numbers_task, first)
    tr = env.step(oracle.act(first))
    assert tr.info["tool"] == "edit" and tr.info["ok"] is False
    tr = env.step(oracle.act(tr))
    assert tr.info["tool"] == "bash" and tr.info["ok"], tr.observation
    tr = env.step(oracle.act(tr))
    assert tr.terminal and tr.reward == 1.0, tr.info["verdict"]["reason"]


def test_patch_parsing_helpers():
    patch = (
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n"
        " x = 1\n-y = 2\n+y = 3\n z = 4\n"
        "diff --git a/b.py b/b.py\nnew file mode 100644\n--- /dev/null\n+++ b/b.py\n"
        "@@ -0,0 +1 @@\n+b = 1\n"
    )
    files = file_patches(patch)
    assert [p for p, _ in files] == ["a.py", "b.py"]
    assert hunks(files[0][1]) == [("x = 1\ny = 2\nz = 4", "x = 1\ny = 3\nz = 4")]


def test_make_agent_names_what_exists():
    with pytest.raises(ValueError, match="unknown agent 'x'; known: oracle, null, llm"):
        make_agent("x")
    with pytest.raises(ValueError, match="needs a model"):
        make_agent("llm")


def test_an_agent_that_raises_ends_only_its_episode(tasks, make_env):
    class Broken:
        tool_format = "text"

        def start(self, task, first):
            pass

        def act(self, last):
            raise RuntimeError("model fell over")

    traj = run_episode(make_env(), Broken(), tasks[0], "broken")
    assert traj["ended"] == "agent error" and "model fell over" in traj["error"]
    assert summarize([traj])["all"]["errors"] == 1
