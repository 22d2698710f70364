"""SWE-RL on one machine: repository tasks, a sandboxed tool environment,
hidden-test rewards, and agents that run in it.

    tasks = load_tasks(Path("data/swe/tasks.jsonl"))
    env = SweEnv(RepoStore(Path("data/swe/repos")))
    tr = env.reset(tasks[0])
    tr = env.step("<tool: bash>\\npython -m pytest -q\\n</tool>")
    tr = env.step("<tool: submit>\\n</tool>")   # tr.terminal, tr.reward

Modules: task (schema, repositories), fetch + mutate + builder (offline
task building), workspace + testrun + reward (grading), tools + prompts +
env (the environment), protocols + agents + runner (who acts, and runs).
"""

from opencwm.swe.env import EnvConfig, SweEnv
from opencwm.swe.protocols import Agent, Env, Model, Reply, ScriptedModel
from opencwm.swe.reward import Verdict, evaluate, score_patch
from opencwm.swe.task import RepoStore, Task, load_tasks, save_tasks
from opencwm.swe.tools import FormatError, ToolCall, parse_function_call, parse_text
from opencwm.transition import Transition

__all__ = [
    "Agent",
    "Env",
    "EnvConfig",
    "FormatError",
    "Model",
    "Reply",
    "RepoStore",
    "ScriptedModel",
    "SweEnv",
    "Task",
    "ToolCall",
    "Transition",
    "Verdict",
    "evaluate",
    "load_tasks",
    "parse_function_call",
    "parse_text",
    "save_tasks",
    "score_patch",
]
