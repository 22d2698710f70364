"""Constrained decoding through a server: a frame asked for in pieces.

The local backend keeps a frame's action line to a line of the program and
its locals' keys to names of the program (`constrain.py`). vLLM, and other
servers, take such constraints as request fields (vLLM >= 0.10.2:
`"structured_outputs": {"choice": [...]}` or `{"regex": ...}`; the older
`guided_choice` / `guided_regex` are ignored since 0.12). But a grammar
engine matches text, and the CWM format is made of special tokens that
engines do not produce (xgrammar masks them). So the frame is asked for in
plain-text pieces, and the separators between them, which the format
fixes, are written here:

    EVENT                     free, one token (none if the rollout forced it)
    {"name": "value", ...}    regex: keys are names of the context (call, line)
    <|action_sep|>            written
    LINE\\n                    choice: one of the context's lines
    <|frame_sep|>             written (call, line)
    <|arg_sep|>"value"...     written, then free to <|frame_sep|> (return, exception)

Three requests a frame instead of one; a server with prefix caching (vLLM's
is on by default) does not re-read the prompt. What this loses against the
local backend: a key may repeat (a regex cannot remember the keys written),
and a sampled frame draws each piece with the same seed, not one stream.

A server that refuses a kind of constraint (HTTP 400/422), or ignores it
(its reply breaks the constraint, as an older vLLM does with the unknown
field), gets one warning for that kind; from then on the frame is asked
for freely from where that piece would start.

`opencwm serve` constrains whole frames in one request by itself, so
`connect` does not use this there; it takes `structured_outputs.choice`
(not regex), so this runs against it too.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

from opencwm.trace import tokens as T
from opencwm.world.backends import STOPS, ConstraintRefused, Sampling
from opencwm.world.constrain import action_choices, context_names, locals_regex

if TYPE_CHECKING:
    from opencwm.world.backends import EndpointBackend


class ConstraintWarning(UserWarning):
    """The server does not apply a kind of constraint: it is decoded freely."""


def guided_complete(
    endpoint: EndpointBackend, prompt: str, sampling: Sampling, context: str
) -> str:
    """The next frame's text after `prompt`, as `Backend.complete` says."""
    left = sampling.max_tokens
    reply = ""

    def free() -> str:
        """The rest of the reply, decoded freely."""
        if left < 1:
            return reply
        return reply + endpoint.request(prompt + reply, sampling, left)[0]

    def piece(kind: str, value: object, fits) -> str | None:
        """One constrained piece, or None if the server does not apply `kind`."""
        nonlocal left
        if kind in endpoint.refused:
            return None
        # the end of the constrained text is the model's end-of-sequence token: not text
        extra = {"structured_outputs": {kind: value}, "include_stop_str_in_output": False}
        try:
            text, used = endpoint.request(prompt + reply, sampling, left, STOPS, extra)
        except ConstraintRefused as exc:
            return _refuse(endpoint, kind, f"it answered {exc}")
        left -= used
        for stop in STOPS:
            text = text.removesuffix(stop)
        if not fits(text):
            return _refuse(endpoint, kind, f"it ignored one (wrote {text[:60]!r})")
        return text

    forced = next((e for e, tok in T.EVENT_TOKENS.items() if prompt.endswith(tok)), None)
    event = forced
    if event is None:
        if {"choice", "regex"} <= endpoint.refused:
            return free()
        reply, used = endpoint.request(prompt, sampling, 1)
        left -= used
        event = T.TOKEN_EVENTS.get(reply)
        if event is None:  # the end of the execution, or not a frame
            return reply if reply.endswith(STOPS) else free()
    if event in ("call", "line"):
        pattern = re.compile(locals_regex(context_names(context)))
        found = piece("regex", pattern.pattern, pattern.fullmatch)
        if found is None or left < 1:
            return free()
        reply += found
    reply += T.ACTION_SEP
    lines = action_choices(context)
    line = piece("choice", lines, lines.__contains__)
    if line is None or left < 1:
        return free()
    reply += line
    if event in ("call", "line"):
        return reply + T.FRAME_SEP
    reply += T.ARG_SEP
    return free()


def _refuse(endpoint: EndpointBackend, kind: str, why: str) -> None:
    endpoint.refused.add(kind)
    warnings.warn(
        f"{endpoint.url} does not apply structured_outputs.{kind} ({why}); "
        f"decoding that part of each frame freely",
        ConstraintWarning,
        stacklevel=2,
    )
