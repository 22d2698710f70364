"""The agents: null (submits at once), oracle (applies the gold patch through
the tools), and llm (any OpenAI-compatible chat endpoint).

The oracle is the environment's self-test: it uses the same tools a model
would (edit per hunk, falling back to `git apply` in bash when a hunk's text
is not unique), so "the oracle resolves every task" checks the tools, the
workspace and the reward together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from opencwm.swe.env import Action
from opencwm.swe.protocols import SUBMIT, Agent, Model, Reply
from opencwm.swe.task import Task
from opencwm.swe.tools import TOOL_SCHEMAS, ToolCall
from opencwm.transition import Transition

AGENTS = ("oracle", "null", "llm")


class ModelError(RuntimeError):
    """The chat endpoint could not be used; the message says why in one line."""


class NullAgent:
    """Submits the untouched workspace: a task it resolves is a broken task."""

    tool_format = "text"

    def start(self, task: Task, first: Transition) -> None:
        pass

    def act(self, last: Transition) -> Action:
        return SUBMIT


def file_patches(patch: str) -> list[tuple[str, str]]:
    """(path, that file's part of the diff) for each file in a git-style diff."""
    out: list[tuple[str, str]] = []
    for chunk in patch.split("diff --git ")[1:]:
        path = chunk.split("\n", 1)[0].split(" b/", 1)[-1]
        out.append((path, "diff --git " + chunk))
    return out


def hunks(file_patch: str) -> list[tuple[str, str]]:
    """(old text, new text) per hunk, with context lines in both."""
    out: list[tuple[list[str], list[str]]] = []
    for line in file_patch.splitlines():
        if line.startswith("@@"):
            out.append(([], []))
        elif out and line[:1] in (" ", "-", "+") and not line.startswith(("---", "+++")):
            old, new = out[-1]
            if line[0] != "+":
                old.append(line[1:])
            if line[0] != "-":
                new.append(line[1:])
    return [("\n".join(o), "\n".join(n)) for o, n in out]


def git_apply_command(file_patch: str) -> str:
    return f"git apply <<'OPENCWM_PATCH_END'\n{file_patch}OPENCWM_PATCH_END"


class OracleAgent:
    """Applies `task.patch` file by file: one edit per hunk, then submits.

    If an edit fails (its text is not unique in the file), the file is
    restored and patched whole with `git apply` through bash.
    """

    tool_format = "text"

    def start(self, task: Task, first: Transition) -> None:
        self.files: list[tuple[list[str], str]] = []  # (edit actions, fallback action)
        for path, fp in file_patches(task.patch):
            whole = "\nnew file mode" in fp or "\ndeleted file mode" in fp
            restore = "" if whole else f"git checkout -- {path} && "
            fallback = f"<tool: bash>\n{restore}{git_apply_command(fp)}\n</tool>"
            edits = [] if whole else [
                f"<tool: edit>\n{path}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n"
                ">>>>>>> REPLACE\n</tool>"
                for old, new in hunks(fp)
            ]  # fmt: skip
            self.files.append((edits, fallback))
        self.queue: list[str] = []
        self.fallback = ""

    def act(self, last: Transition) -> Action:
        if last.info.get("tool") == "edit" and last.info.get("ok") is False and self.fallback:
            self.queue = []
            action, self.fallback = self.fallback, ""
            return action
        if not self.queue:
            if not self.files:
                return SUBMIT
            edits, fallback = self.files.pop(0)
            if not edits:
                return fallback
            self.queue, self.fallback = list(edits), fallback
        return self.queue.pop(0)


@dataclass
class OpenAIModel:
    """A chat model behind an OpenAI-compatible endpoint (vLLM, llama.cpp, OpenAI...).

    `endpoint` is the API base, e.g. http://127.0.0.1:8000/v1 (a bare
    host:port gets /v1 added).
    """

    endpoint: str
    model: str
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 4096
    timeout_s: float = 300.0
    client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        base = self.endpoint.rstrip("/")
        if base.count("/") == 2:  # scheme://host[:port] only
            base += "/v1"
        self.base = base
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(timeout=self.timeout_s, headers=headers)

    def ping(self) -> None:
        """Raise ModelError unless something answers HTTP at the endpoint."""
        try:
            self.client.get(f"{self.base}/models", timeout=10)
        except httpx.HTTPError as exc:
            raise ModelError(
                f"cannot reach {self.base}: {_why(exc)}; is the server running?"
            ) from None

    def chat(self, messages: list[dict], tools: list[dict] | None = None) -> Reply:
        body: dict = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if tools:
            body["tools"] = tools
        url = f"{self.base}/chat/completions"
        try:
            r = self.client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach {url}: {_why(exc)}; is the server running?") from None
        if r.status_code >= 400:
            raise ModelError(f"{url} answered HTTP {r.status_code}: {_error_message(r)}")
        try:
            msg = r.json()["choices"][0]["message"]
            calls = [
                ToolCall(c["function"]["name"], _arguments(c), c.get("id"))
                for c in msg.get("tool_calls") or []
            ]
            return Reply(msg.get("content") or "", calls, r.json().get("usage") or {})
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"{url} sent no chat completion ({exc!r}): {r.text[:200]!r}") from None

    def close(self) -> None:
        self.client.close()


def _arguments(call: dict) -> dict:
    raw = call["function"].get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {"__unparsed__": raw}
    return args if isinstance(args, dict) else {"__unparsed__": raw}


def _error_message(r: httpx.Response) -> str:
    """The message of OpenAI's error body (`{"error": {"message": ...}}`, as
    vLLM and `opencwm serve` send it), else the start of the body."""
    try:
        message = r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return repr(r.text[:200])
    return str(message).splitlines()[0][:300] if message else repr(r.text[:200])


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class LLMAgent:
    """Keeps the conversation and asks `model` for each action."""

    def __init__(self, model: Model, tool_format: str = "text") -> None:
        self.model = model
        self.tool_format = tool_format
        self.messages: list[dict] = []
        self.usage: list[dict] = []

    def start(self, task: Task, first: Transition) -> None:
        self.messages = [
            {"role": "system", "content": first.info["system"]},
            {"role": "user", "content": first.observation},
        ]

    def act(self, last: Transition) -> Action:
        if last.action:  # the answer to our previous action
            call_id = last.info.get("call_id")
            if call_id and self.tool_format == "functions":
                self.messages.append(
                    {"role": "tool", "tool_call_id": call_id, "content": last.observation}
                )
            else:
                self.messages.append({"role": "user", "content": last.observation})
        tools = TOOL_SCHEMAS if self.tool_format == "functions" else None
        reply = self.model.chat(self.messages, tools)
        self.usage.append(reply.usage)
        if reply.tool_calls:
            call = reply.tool_calls[0]  # one call per turn: the rest are not run
            self.messages.append(
                {
                    "role": "assistant",
                    "content": reply.content or None,
                    "tool_calls": [
                        {
                            "id": call.call_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.args)},
                        }
                    ],
                }
            )
            return call
        self.messages.append({"role": "assistant", "content": reply.content})
        return reply.content


def make_agent(name: str, model: Model | None = None, tool_format: str = "text") -> Agent:
    """A fresh agent for one episode."""
    if name == "null":
        return NullAgent()
    if name == "oracle":
        return OracleAgent()
    if name == "llm":
        if model is None:
            raise ValueError("the llm agent needs a model (an --endpoint and a --model)")
        return LLMAgent(model, tool_format)
    raise ValueError(f"unknown agent {name!r}; known: {', '.join(AGENTS)}")
