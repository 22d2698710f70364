"""Every interface of the SWE loop, and the deterministic fake model tests use.

    env.reset(task) -> Transition          (the prompt)
    loop: agent.act(transition) -> action  (text with one <tool: ...>, or a ToolCall)
          env.step(action) -> Transition   (observation; reward when terminal)

An `Agent` decides; a `Model` is what an LLM agent asks. Agents are cheap
and hold one episode's conversation; make one per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from opencwm.swe.tools import ToolCall

if TYPE_CHECKING:
    from opencwm.swe.env import Action
    from opencwm.swe.task import Task
    from opencwm.transition import Transition


class Env(Protocol):
    def reset(self, task: Task, tool_format: str = "text") -> Transition: ...
    def step(self, action: Action) -> Transition: ...
    def close(self) -> None: ...


class Agent(Protocol):
    tool_format: str  # "text" or "functions": how it wants the tools described

    def start(self, task: Task, first: Transition) -> None: ...
    def act(self, last: Transition) -> Action: ...


@dataclass
class Reply:
    """One chat completion: text, any function calls, and the server's token usage."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict = field(default_factory=dict)


class Model(Protocol):
    def chat(self, messages: list[dict], tools: list[dict] | None = None) -> Reply: ...


SUBMIT = "<tool: submit>\n</tool>"


@dataclass
class ScriptedModel:
    """A fake model that replays `replies` in order, then submits.

    Each reply is a text (the assistant's message) or a ToolCall (a
    function call). `seen` keeps every message list it was sent.
    """

    replies: list[str | ToolCall]
    seen: list[list[dict]] = field(default_factory=list)

    def chat(self, messages: list[dict], tools: list[dict] | None = None) -> Reply:
        self.seen.append([dict(m) for m in messages])
        turn = len(self.seen) - 1
        reply = self.replies[turn] if turn < len(self.replies) else SUBMIT
        if isinstance(reply, ToolCall):
            call = reply if reply.call_id else ToolCall(reply.name, reply.args, f"call_{turn}")
            return Reply(tool_calls=[call])
        return Reply(content=reply)
