"""How `opencwm serve` turns chat messages into one prompt, and a reply back.

A model directory whose tokenizer has a chat template (facebook/cwm's
does) is served with it: `apply_chat_template(..., add_generation_prompt=True)`,
and its end-of-turn tokens (the generation config's `eos_token_id`) end a
reply. Our own models are trained on traces, not conversations, and have
no template; they get the plain one below, documented so a client can
build the same prompt by hand:

    <|begin_of_text|>=== system ===
    You are ...
    === user ===
    Fix the bug ...
    === assistant ===
    <tool: bash>
    ls
    </tool>
    === user ===
    <output>...</output>
    === assistant ===

Each message is a `=== ROLE ===` line and its content; the prompt ends with
the assistant's header. The reply ends at the model's stop tokens or where
it starts the next header (`\\n=== `), which is cut off. An assistant
message's `tool_calls` are written after its content as JSON. Text tool
calls (CWM's `<tool: NAME>...</tool>`, the SWE agent's default) are plain
content, so they pass through either template unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from opencwm.trace import tokens as T

PLAIN_HEADER = "=== {role} ===\n"
PLAIN_NEXT = "\n=== "


@dataclass(frozen=True)
class ChatFormat:
    """A prompt for a conversation, and where the reply to it ends."""

    render: Callable[[list[dict]], str]
    stop_tokens: tuple[str, ...] = ()
    """Special tokens that end a reply while decoding (besides the model's
    own stops)."""
    stops: tuple[str, ...] = ()
    """Text that ends a reply, cut after decoding."""
    name: str = "plain"


def plain_render(messages: list[dict]) -> str:
    parts = [T.BEGIN_OF_TEXT]
    for m in messages:
        content = m.get("content") or ""
        if m.get("tool_calls"):
            content = (content + "\n" if content else "") + json.dumps(m["tool_calls"])
        parts.append(PLAIN_HEADER.format(role=m["role"]) + content + "\n")
    parts.append(PLAIN_HEADER.format(role="assistant"))
    return "".join(parts)


PLAIN = ChatFormat(plain_render, stops=(PLAIN_NEXT,))


def model_chat(tokenizer, eos_token_id: int | list[int] | None) -> ChatFormat:
    """The tokenizer's chat template if it has one, else the plain one."""
    if not getattr(tokenizer, "chat_template", None):
        return PLAIN
    ids = eos_token_id if isinstance(eos_token_id, list) else [eos_token_id]
    ends = tuple(t for t in tokenizer.convert_ids_to_tokens([i for i in ids if i is not None]))

    def render(messages: list[dict]) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    return ChatFormat(render, stop_tokens=ends, name="template")
