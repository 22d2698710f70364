"""The agent's tools, and how actions name them.

Two spellings of one call: CWM's text format (so CWM-trained models work
as they are),

    <tool: edit>
    src/pkg/mod.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    </tool>

and OpenAI function calls (`TOOL_SCHEMAS`). Both become a `ToolCall`. A
reply with no call, two calls or an unclosed tag is a `FormatError`, which
the environment answers with the error rather than ending the episode.

bash runs in the command sandbox. view, edit, create and search run on the
host, on paths resolved inside the workspace: nothing of the sandbox is
alive between commands, so a symlink planted by the agent is seen and
refused, never followed out.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.sandbox.command import WORKSPACE, run_command
from opencwm.sandbox.result import Limits

TOOL_NAMES = ("bash", "view", "edit", "create", "search", "submit")
TAG = re.compile(r"<tool:\s*([A-Za-z_]+)\s*>\n?(.*?)\n?</tool>", re.DOTALL)
EDIT = re.compile(r"<<<<<<< SEARCH\n(.*?)\n?=======\n(.*?)\n?>>>>>>> REPLACE\s*\Z", re.DOTALL)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_VIEW_LINES = 400
MAX_CHARS = 16_000
MAX_MATCHES = 60


class FormatError(ValueError):
    """The action does not name exactly one well-formed tool call."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict = field(default_factory=dict)
    call_id: str | None = None  # an OpenAI tool_call id, echoed back in the answer

    def render(self) -> str:
        return json.dumps({"name": self.name, "arguments": self.args, "id": self.call_id})


@dataclass(frozen=True)
class ToolResult:
    output: str
    ok: bool = True


def parse_text(text: str) -> ToolCall:
    """The one `<tool: NAME>...</tool>` call in a reply."""
    calls = TAG.findall(text)
    opened, closed = text.count("<tool:"), text.count("</tool>")
    if len(calls) > 1:
        names = ", ".join(n for n, _ in calls)
        raise FormatError(f"found {len(calls)} tool calls ({names}); send exactly one per reply")
    if len(calls) != opened or len(calls) != closed:
        raise FormatError(
            f"unbalanced tool tags: {opened} '<tool:' and {closed} '</tool>'; "
            "every <tool: NAME> needs its own </tool>"
        )
    if not calls:
        raise FormatError("no tool call found; reply with exactly one <tool: NAME>...</tool> block")
    name, body = calls[0]
    return ToolCall(name, _args_from_body(name, body))


def _args_from_body(name: str, body: str) -> dict:
    if name not in TOOL_NAMES:
        raise FormatError(f"unknown tool {name!r}; known: {', '.join(TOOL_NAMES)}")
    first, _, rest = body.partition("\n")
    if name == "bash":
        return {"command": body}
    if name == "submit":
        return {}
    if not first.strip():
        raise FormatError(f"<tool: {name}> needs a path (or pattern) on its first line")
    if name == "view":
        m = re.fullmatch(r"\s*(\d+)\s*(?:-|\s)\s*(\d+)\s*", rest) if rest.strip() else None
        if rest.strip() and not m:
            raise FormatError("view takes a path and optionally a line range like '10-40'")
        return {"path": first.strip(), **({"start": int(m[1]), "end": int(m[2])} if m else {})}
    if name == "edit":
        m = EDIT.match(rest)
        if not m:
            raise FormatError(
                "edit takes a path, then <<<<<<< SEARCH, the lines, =======, "
                "the new lines, >>>>>>> REPLACE"
            )
        return {"path": first.strip(), "search": m[1], "replace": m[2]}
    if name == "create":
        return {"path": first.strip(), "content": rest + "\n" if rest else ""}
    return {"pattern": first, "path": rest.strip() or "."}  # search


def parse_function_call(name: str, arguments: str | dict, call_id: str | None = None) -> ToolCall:
    """An OpenAI-style function call (arguments as JSON text or a dict)."""
    if name not in TOOL_NAMES:
        raise FormatError(f"unknown tool {name!r}; known: {', '.join(TOOL_NAMES)}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError as exc:
            raise FormatError(f"arguments of {name} are not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise FormatError(f"arguments of {name} must be a JSON object")
    need = TOOL_SCHEMAS_BY_NAME[name]["parameters"]["required"]
    missing = [p for p in need if p not in arguments]
    if missing:
        raise FormatError(f"{name} needs {', '.join(missing)}")
    return ToolCall(name, arguments, call_id)


def _schema(name: str, description: str, required: str = "", optional: str = "") -> dict:
    """An OpenAI tool spec; parameters named `start`/`end` are integers, the rest strings."""
    props = {
        p: {"type": "integer" if p in ("start", "end") else "string"}
        for p in [*required.split(), *optional.split()]
    }
    params = {"type": "object", "properties": props, "required": required.split()}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": params},
    }


TOOL_SCHEMAS = [
    _schema("bash", "Run bash command(s) in /workspace; non-interactive.", "command"),
    _schema("view", "Show a file with line numbers (or list a folder).", "path", "start end"),
    _schema("edit", "Replace text that occurs exactly once in a file.", "path search replace"),
    _schema("create", "Create a new file; its folder must exist.", "path content"),
    _schema("search", "Regex search through files, like grep -rn.", "pattern", "path"),
    _schema("submit", "Finish: the workspace is graded by the hidden tests."),
]
TOOL_SCHEMAS_BY_NAME = {s["function"]["name"]: s["function"] for s in TOOL_SCHEMAS}


def clean(data: bytes | str) -> str:
    """Text safe to show a model: UTF-8 with replacements, no terminal escapes or control bytes."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = ANSI.sub("", text.replace("\r\n", "\n"))
    return CONTROL.sub("\ufffd", text)


def clip(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters elided ...]\n{text[-half:]}"


@dataclass
class Tools:
    """The tools of one episode, bound to its workspace and sandbox uid."""

    workspace: Path
    uid: int | None
    limits: Limits
    env: dict[str, str] = field(default_factory=dict)
    max_workspace_mb: int = 256

    def run(self, call: ToolCall) -> ToolResult:
        try:
            return getattr(self, f"_{call.name}")(**call.args)
        except ToolError as exc:
            return ToolResult(f"error: {exc}", ok=False)
        except TypeError as exc:  # unexpected or missing arguments from a function call
            return ToolResult(f"error: bad arguments for {call.name}: {exc}", ok=False)

    def _bash(self, command: str) -> ToolResult:
        r = run_command(command, workspace=self.workspace, limits=self.limits, env=self.env,
                        uid=self.uid, max_workspace_mb=self.max_workspace_mb)  # fmt: skip
        text = clean(r.output)
        if r.timed_out:
            return ToolResult(
                f"{text}\n[timed out after {self.limits.timeout_s:g}s; killed]", False
            )
        if r.error:
            return ToolResult(f"{text}\n[sandbox error: {r.error}]", False)
        if r.exit_code:
            return ToolResult(f"{text}\n[exit code {r.exit_code}]", False)
        return ToolResult(text or "[no output]")

    def resolve(self, path: str, *, must_exist: bool = True) -> Path:
        """The host path of a workspace path, refusing anything that leads outside."""
        path = path.strip()
        if path == WORKSPACE or path.startswith(WORKSPACE + "/"):
            path = path[len(WORKSPACE) :].lstrip("/") or "."
        elif path.startswith("/"):
            raise ToolError(f"{path}: only paths inside {WORKSPACE} can be used")
        root = os.path.realpath(self.workspace)
        real = os.path.realpath(os.path.join(root, path))
        if real != root and not real.startswith(root + "/"):
            raise ToolError(f"{path}: leads outside {WORKSPACE}")
        if must_exist and not os.path.exists(real):
            raise ToolError(f"{path}: no such file or folder")
        return Path(real)

    def _regular(self, path: str) -> Path:
        real = self.resolve(path)
        if not stat.S_ISREG(os.stat(real).st_mode):
            raise ToolError(f"{path}: not a regular file")
        return real

    def _view(self, path: str, start: int = 1, end: int | None = None) -> ToolResult:
        real = self.resolve(path)
        if real.is_dir():
            entries = sorted(os.listdir(real))
            shown = [e + "/" if (real / e).is_dir() else e for e in entries if e != ".git"]
            return ToolResult(clip("\n".join(shown) or "[empty folder]"))
        lines = clean(self._regular(path).read_bytes()).splitlines()
        start = max(int(start), 1)
        end = min(int(end) if end else start + MAX_VIEW_LINES - 1, len(lines))
        body = "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(start, end + 1))
        more = f"\n[lines {start}-{end} of {len(lines)}]" if end < len(lines) or start > 1 else ""
        return ToolResult(clip(body + more) if lines else "[empty file]")

    def _edit(self, path: str, search: str, replace: str) -> ToolResult:
        real = self._regular(path)
        text = real.read_text(encoding="utf-8", errors="surrogateescape")
        if not search:
            raise ToolError("the search text is empty")
        count = text.count(search)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise ToolError(f"the search text {where} in {path}; it must match exactly once")
        real.write_text(text.replace(search, replace), encoding="utf-8", errors="surrogateescape")
        self._own(real)
        return ToolResult(f"edited {path}")

    def _create(self, path: str, content: str) -> ToolResult:
        real = self.resolve(path, must_exist=False)
        if os.path.lexists(real):
            raise ToolError(f"{path} exists already; use edit")
        if not real.parent.is_dir():
            raise ToolError(f"{path}: its folder does not exist")
        real.write_text(content, encoding="utf-8")
        self._own(real)
        return ToolResult(f"created {path}")

    def _search(self, pattern: str, path: str = ".") -> ToolResult:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"bad regex {pattern!r}: {exc}") from None
        top = self.resolve(path)
        files = [top] if top.is_file() else sorted(_walk(top))
        hits: list[str] = []
        for f in files:
            rel = os.path.relpath(f, self.workspace)
            for n, line in enumerate(clean(f.read_bytes()).splitlines(), 1):
                if rx.search(line):
                    hits.append(f"{rel}:{n}: {line[:200]}")
            if len(hits) > MAX_MATCHES:
                break
        more = f"\n[first {MAX_MATCHES} matches shown]" if len(hits) > MAX_MATCHES else ""
        return ToolResult(clip("\n".join(hits[:MAX_MATCHES]) + more) if hits else "[no matches]")

    def _submit(self) -> ToolResult:
        return ToolResult("submitted")

    def _own(self, real: Path) -> None:
        """Files the host wrote belong to the sandbox uid, so later commands may change them."""
        if self.uid is not None:
            os.lchown(real, self.uid, self.uid)


class ToolError(Exception):
    """A tool could not do what was asked; the agent sees the message."""


def _walk(top: Path):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and not d.startswith("__pycache__"))
        for f in filenames:
            p = Path(dirpath, f)
            if stat.S_ISREG(os.lstat(p).st_mode) and os.lstat(p).st_size < 1_000_000:
                yield p
