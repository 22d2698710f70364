"""The SWE environment: `reset(task)` then `step(action)` until terminal.

In the spirit of CWM's `rl/envs/api.py`: every step returns a
`Transition` holding exactly what the agent may learn from, and an episode
is two methods. State lives in one place per episode (a scratch folder with
the pristine snapshot and the agent's workspace) and is removed when the
episode ends.

An episode ends when the agent submits, or when its turn or token budget
runs out; then the workspace is graded as it is (reward.py). Until then
every observation carries a budget notice, with a warning near the end.
A malformed action costs a turn and is answered with the format error.
Tokens are estimated as bytes / 4: no tokenizer is needed, and an agent
that knows its real counts may keep its own budget.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from opencwm.sandbox.result import Limits
from opencwm.swe.prompts import budget_notice, system_prompt, user_prompt
from opencwm.swe.reward import Verdict, evaluate
from opencwm.swe.task import RepoStore, Task
from opencwm.swe.testrun import agent_env
from opencwm.swe.tools import FormatError, ToolCall, Tools, parse_text
from opencwm.swe.workspace import make_workspace, scrub
from opencwm.transition import Transition

Action = str | ToolCall


@dataclass
class EnvConfig:
    """Every knob of an episode; each default lives here only."""

    max_turns: int = 40
    max_tokens: int = 64_000
    warn_turns: int = 5  # the notice warns once this few turns are left
    command_timeout_s: float = 60.0
    test_timeout_s: float = 120.0
    max_output_bytes: int = 16 * 1024
    memory_mb: int = 2048
    max_workspace_mb: int = 256
    shaping: float = 0.0  # reward for an unresolved episode: shaping * patch similarity
    scratch: Path | None = None  # where episode folders go (default: the system temp dir)

    def command_limits(self) -> Limits:
        return Limits(
            timeout_s=self.command_timeout_s,
            memory_mb=self.memory_mb,
            file_size_mb=64,
            nproc=128,
            nofile=1024,
            max_output_bytes=self.max_output_bytes,
        )


def approx_tokens(text: str) -> int:
    return (len(text.encode()) + 3) // 4


class SweEnv:
    """One episode at a time over tasks whose repositories are in `store`."""

    def __init__(self, store: RepoStore, config: EnvConfig | None = None) -> None:
        self.store = store
        self.config = config or EnvConfig()
        self.task: Task | None = None
        self.root: Path | None = None
        self.done = True

    def reset(self, task: Task, tool_format: str = "text") -> Transition:
        """Start an episode: a fresh workspace of the buggy repository, and the prompt.

        `tool_format` ("text" or "functions") only changes how the system
        prompt describes the tools; step() accepts both spellings.
        """
        self.close()
        start = time.monotonic()
        self.task, self.turns, self.tokens, self.done = task, 0, 0, False
        self.root = Path(tempfile.mkdtemp(prefix="opencwm-swe-", dir=self.config.scratch))
        self.snapshot = self.root / "snapshot"
        self.workspace = self.root / "workspace"
        self.store.export(task, self.snapshot)
        scrub(self.snapshot)
        uid = make_workspace(self.snapshot, self.workspace)
        self.tools = Tools(
            self.workspace,
            uid,
            self.config.command_limits(),
            env=agent_env(self.snapshot),
            max_workspace_mb=self.config.max_workspace_mb,
        )
        system = system_prompt(tool_format, self.config)
        prompt = user_prompt(task)
        self.tokens = approx_tokens(system) + approx_tokens(prompt)
        info = {"instance_id": task.instance_id, "system": system, "setup_s": _since(start)}
        return Transition(action="", observation=prompt, info=info)

    def step(self, action: Action) -> Transition:
        assert not self.done, "step() after the episode ended: call reset() first"
        start = time.monotonic()
        text = action.render() if isinstance(action, ToolCall) else action
        self.turns += 1
        self.tokens += approx_tokens(text)
        info: dict = {"turn": self.turns}
        try:
            call = action if isinstance(action, ToolCall) else parse_text(action)
        except FormatError as exc:
            info["format_error"] = str(exc)
            output = f"Format error: {exc}"
        else:
            info["tool"] = call.name
            if call.call_id:
                info["call_id"] = call.call_id
            if call.name == "submit":
                return self._finish(text, "submitted", info)
            result = self.tools.run(call)
            info["ok"] = result.ok
            output = result.output
        info["tool_s"] = _since(start)
        if self.turns >= self.config.max_turns:
            return self._finish(text, "turn budget exhausted", info)
        observation = f"<output>\n{output.rstrip(chr(10))}\n</output>"
        spent = self.tokens + approx_tokens(observation)
        if spent >= self.config.max_tokens:
            return self._finish(text, "token budget exhausted", info)
        observation += "\n\n" + budget_notice(
            self.config.max_turns - self.turns, self.config.max_tokens - spent, self.config
        )
        self.tokens += approx_tokens(observation)
        return Transition(action=text, observation=observation, info=info)

    def _finish(self, text: str, why: str, info: dict) -> Transition:
        assert self.task is not None
        verdict: Verdict = evaluate(
            self.task,
            self.snapshot,
            self.workspace,
            timeout_s=self.config.test_timeout_s,
            shaping=self.config.shaping,
            scratch=self.config.scratch,
        )
        info.update(ended=why, verdict=verdict.to_dict(), turns=self.turns, tokens=self.tokens)
        self.close()
        return Transition(
            action=text, observation="", reward=verdict.reward, terminal=True, info=info
        )

    def close(self) -> None:
        """End the episode without grading and remove its files."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.done = True

    def __enter__(self) -> SweEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _since(start: float) -> float:
    return round(time.monotonic() - start, 4)
