"""What the evaluation tests share: the sample file, deterministic backends.
A module of its own, since `conftest` is a name every test folder uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from opencwm.trace import tokens as T
from opencwm.trace.cwm import to_cwm
from opencwm.trace.frame import Trace
from opencwm.world.backends import STOPS, Sampling

SAMPLE = Path(__file__).parents[2] / "examples" / "cruxeval_sample.jsonl"
MEMORISED = "sample_0"


class Oracle:
    """Answers with the true next frame of whichever known trace the prompt
    is a prefix of; `corrupt(prompt, reply)` may change the answer. Stateless,
    so teacher-forced and free-running runs can share one."""

    context_tokens = 10**9

    def __init__(
        self, traces: list[Trace], corrupt: Callable[[str, str], str] | None = None
    ) -> None:
        self.texts = [to_cwm(t) for t in traces]
        self.corrupt = corrupt
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt: str, sampling: Sampling) -> str:
        self.calls += 1
        for text in self.texts:
            if text.startswith(prompt):
                rest = text[len(prompt) :]
                reply = rest[: min(rest.find(s) + len(s) for s in STOPS if s in rest)]
                return self.corrupt(prompt, reply) if self.corrupt else reply
        return T.END_OF_TEXT


class Constant:
    """Always the same reply (garbage, or `<|end_of_text|>`)."""

    context_tokens = 10**9

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt: str, sampling: Sampling) -> str:
        return self.reply


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
