"""Running agents over tasks: episodes in parallel, trajectories as JSON Lines.

Each episode is one line of the output file: the task, the agent, the
prompt, every turn (action, tool, observation, timings), the end reason
and the verdict, with `format_version`. Episodes run on `workers` threads;
the work itself happens in sandbox processes, so threads are enough.
An agent that raises (a dead endpoint mid-run) ends only its episode, with
reward 0 and the error recorded.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.swe.agents import make_agent
from opencwm.swe.env import EnvConfig, SweEnv
from opencwm.swe.protocols import Agent
from opencwm.swe.task import RepoStore, Task

TRAJECTORY_VERSION = 1


@dataclass
class RunConfig:
    tasks: list[Task]
    repos: Path
    agent: str = "oracle"
    out: Path | None = None
    workers: int = 1
    tool_format: str = "text"
    env: EnvConfig = field(default_factory=EnvConfig)


def run_episode(env: SweEnv, agent: Agent, task: Task, agent_name: str = "") -> dict:
    """One episode from reset to terminal; the whole trajectory as a dict."""
    start = time.monotonic()
    first = env.reset(task, tool_format=agent.tool_format)
    traj: dict = {
        "format_version": TRAJECTORY_VERSION,
        "instance_id": task.instance_id,
        "repo": task.repo,
        "agent": agent_name or type(agent).__name__,
        "system": first.info["system"],
        "prompt": first.observation,
        "setup_s": first.info["setup_s"],
        "turns": [],
        "reward": 0.0,
        "resolved": False,
        "ended": "",
        "error": "",
    }
    tr = first
    try:
        agent.start(task, first)
        while not tr.terminal:
            t0 = time.monotonic()
            action = agent.act(tr)
            agent_s = time.monotonic() - t0
            tr = env.step(action)
            turn = {k: v for k, v in tr.info.items() if k not in ("verdict", "ended")}
            turn.update(action=tr.action, observation=tr.observation, agent_s=round(agent_s, 4))
            traj["turns"].append(turn)
    except Exception as exc:  # the agent's failure ends its episode, not the run
        traj["error"] = f"{type(exc).__name__}: {exc}"
        traj["ended"] = "agent error"
        env.close()
    if tr.terminal:
        verdict = tr.info["verdict"]
        traj.update(reward=tr.reward, resolved=verdict["resolved"], ended=tr.info["ended"])
        traj["verdict"] = verdict
        traj["reward_s"] = verdict["duration_s"]
    traj["duration_s"] = round(time.monotonic() - start, 3)
    return traj


def run(
    config: RunConfig,
    make: Callable[[], Agent] | None = None,
    on_episode: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run every task once; write trajectories to `config.out` as they finish."""
    make = make or (lambda: make_agent(config.agent))
    store = RepoStore(config.repos)
    lock = threading.Lock()
    out = open(config.out, "a", encoding="utf-8") if config.out else None  # noqa: SIM115
    results: list[dict] = []

    def one(task: Task) -> dict:
        with SweEnv(store, config.env) as env:
            traj = run_episode(env, make(), task, config.agent)
        with lock:
            results.append(traj)
            if out:
                out.write(json.dumps(traj) + "\n")
                out.flush()
            if on_episode:
                on_episode(traj)
        return traj

    try:
        with ThreadPoolExecutor(max(config.workers, 1)) as pool:
            list(pool.map(one, config.tasks))
    finally:
        if out:
            out.close()
    order = {t.instance_id: i for i, t in enumerate(config.tasks)}
    return sorted(results, key=lambda t: order[t["instance_id"]])


def summarize(trajectories: list[dict]) -> dict:
    """Resolved rate, turns and times over a run, overall and per repository."""

    def stats(ts: list[dict]) -> dict:
        n = len(ts)
        return {
            "episodes": n,
            "resolved": sum(t["resolved"] for t in ts),
            "resolved_rate": round(sum(t["resolved"] for t in ts) / n, 4) if n else 0.0,
            "mean_reward": round(sum(t["reward"] for t in ts) / n, 4) if n else 0.0,
            "mean_turns": round(statistics.fmean(len(t["turns"]) for t in ts), 2) if n else 0.0,
            "mean_s": round(statistics.fmean(t["duration_s"] for t in ts), 2) if n else 0.0,
            "mean_reward_s": round(statistics.fmean(t.get("reward_s", 0) for t in ts), 2)
            if n
            else 0.0,
            "errors": sum(bool(t["error"]) for t in ts),
        }

    repos = sorted({t["repo"] for t in trajectories})
    return {
        "all": stats(trajectories),
        "by_repo": {r: stats([t for t in trajectories if t["repo"] == r]) for r in repos},
    }
