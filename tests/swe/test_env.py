"""The environment loop: oracle and null agents, workspace hygiene, budgets,
and protocol abuse answered without ending the episode."""

from __future__ import annotations

import pytest
from swe_helpers import bash, play

from opencwm.swe.agents import NullAgent, OracleAgent
from opencwm.swe.runner import run_episode
from opencwm.transition import Transition


def test_oracle_resolves_every_built_task(tasks, make_env):
    env = make_env()
    for task in tasks:
        traj = run_episode(env, OracleAgent(), task)
        assert traj["resolved"] and traj["reward"] == 1.0, (task.instance_id, traj["verdict"])
        assert [t["tool"] for t in traj["turns"]][-1] == "submit"


def test_null_resolves_none(tasks, make_env):
    env = make_env()
    for task in tasks:
        traj = run_episode(env, NullAgent(), task)
        assert traj["reward"] == 0.0 and not traj["resolved"], task.instance_id
        assert "FAIL_TO_PASS" in traj["verdict"]["reason"]


def test_workspace_is_the_bug_without_hidden_tests_history_or_caches(numbers_task, make_env):
    env = make_env()
    steps = play(
        env,
        numbers_task,
        [
            bash("ls tests; git log --all --oneline | wc -l; git status --short | wc -l"),
            bash("find . -name '__pycache__' -o -name '*.pyc' -o -name '.pytest_cache' | wc -l"),
            bash("python -m pytest -q tests 2>&1 | tail -1"),
        ],
    )
    listing, caches, visible = (s.observation for s in steps[1:4])
    assert "test_words.py" in listing and "test_numbers.py" not in listing
    assert "\n1\n0\n" in listing  # one commit, clean tree
    assert "\n0\n" in caches
    assert "3 passed" in visible  # the visible tests run, and pass, with the bug in


def test_observation_wraps_output_and_counts_down_the_budget(tasks, make_env):
    env = make_env(max_turns=4, warn_turns=2)
    env.reset(tasks[0])
    first = env.step(bash("echo hello"))
    assert first.observation.startswith("<output>\nhello\n</output>\n\n<budget>")
    assert "Remaining turns: 3" in first.observation and "Submit soon" not in first.observation
    second = env.step(bash("exit 3"))
    assert "[exit code 3]" in second.observation and second.info["ok"] is False
    assert "Remaining turns: 2" in second.observation and "Submit soon" in second.observation
    env.step(bash("true"))
    last = env.step(bash("true"))
    assert last.terminal and last.info["ended"] == "turn budget exhausted"
    assert last.reward == 0.0 and last.info["verdict"]["reason"]


def test_token_budget_ends_the_episode_and_grades_the_workspace(numbers_task, make_env):
    env = make_env(max_tokens=3000)
    steps = play(env, numbers_task, [bash("head -c 20000 /dev/zero | tr '\\0' x")])
    assert steps[-1].terminal and steps[-1].info["ended"] == "token budget exhausted"
    assert "verdict" in steps[-1].info


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("I think the bug is in clamp.", "no tool call found"),
        (bash("ls") + "\n" + bash("pwd"), "found 2 tool calls"),
        ("<tool: bash>\nls\n", "unbalanced tool tags"),
        ("<tool: rm>\n-rf /\n</tool>", "unknown tool 'rm'"),
        ("<tool: edit>\ntinylib/__init__.py\nno markers\n</tool>", "edit takes a path"),
    ],
)
def test_protocol_abuse_is_answered_and_costs_a_turn(tasks, make_env, action, error):
    env = make_env()
    env.reset(tasks[0])
    tr = env.step(action)
    assert not tr.terminal and tr.info["format_error"].startswith(error)
    assert error in tr.observation and "Remaining turns" in tr.observation
    assert env.step(bash("echo still here")).observation.startswith("<output>\nstill here")


def test_ten_megabytes_of_output_keep_head_and_tail(tasks, make_env):
    env = make_env()
    env.reset(tasks[0])
    tr = env.step(bash("echo START; head -c 10000000 /dev/zero | tr '\\0' y; echo; echo END"))
    assert "START" in tr.observation and "END" in tr.observation
    assert "bytes elided" in tr.observation and len(tr.observation) < 40_000


def test_binary_output_becomes_clean_text(tasks, make_env):
    env = make_env()
    env.reset(tasks[0])
    tr = env.step(bash("head -c 4000 /dev/urandom; printf '\\0\\033[31mred\\033[0m\\r\\n'"))
    assert "\x00" not in tr.observation and "\x1b" not in tr.observation
    tr.observation.encode("utf-8")  # valid text


def test_program_waiting_on_stdin_gets_eof_at_once(tasks, make_env):
    env = make_env(command_timeout_s=20)
    env.reset(tasks[0])
    tr = env.step(bash("python -c 'print(input())'; cat; read line; echo read=$?"))
    assert "EOFError" in tr.observation and "read=1" in tr.observation
    assert tr.info["tool_s"] < 5


def test_long_command_times_out_with_a_notice(tasks, make_env):
    env = make_env(command_timeout_s=1)
    env.reset(tasks[0])
    tr = env.step(bash("sleep 30"))
    assert "timed out after 1s" in tr.observation and tr.info["tool_s"] < 5


def test_function_calls_drive_the_same_tools(numbers_task, make_env):
    from opencwm.swe.tools import ToolCall

    env = make_env()
    first = env.reset(numbers_task, tool_format="functions")
    assert "<tool: bash>" not in first.info["system"]
    tr = env.step(ToolCall("view", {"path": "tinylib/__init__.py", "start": 4, "end": 6}, "c1"))
    assert tr.info["call_id"] == "c1" and "def clamp" in tr.observation
    assert env.step(ToolCall("submit", {}, "c2")).terminal


def test_transition_invariants():
    with pytest.raises(AssertionError, match="terminal transition has no observation"):
        Transition(action="x", observation="more", terminal=True)
    with pytest.raises(AssertionError, match="before the end"):
        Transition(action="x", observation="o", reward=1.0)
    with pytest.raises(AssertionError, match="outside"):
        Transition(action="x", observation="", reward=2.0, terminal=True)


def test_step_after_the_end_is_refused(tasks, make_env):
    env = make_env()
    play(env, tasks[0], [])
    with pytest.raises(AssertionError, match="reset"):
        env.step(bash("ls"))
