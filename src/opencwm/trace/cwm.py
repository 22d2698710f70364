"""`Trace` <-> CWM text: the format the model reads and writes.

Encoding is exact and canonical. Decoding recovers what the text carries
(events, locals, source lines, values) and *derives* what it does not (line
numbers, call depth, function names) from the context via `resolve.py`.

Diff rule (both directions): a local is written `".."` when the frame is a
line frame and the frame just before it is a call or line frame of the same
activation holding the same value. After any call, return or exception
frame, every value is written out. So a reader resolves `".."` against the
immediately preceding frame alone.

Concurrent programs (frames with an `actor`) use no new tokens: the action
is prefixed `[ACTOR] `, and a message event is a line frame whose action is
`[ACTOR] <send>` or `[ACTOR] <recv>` and whose locals are the message. The
prefix is read only from an action that is not itself a line of the
context, so a frame without an actor is written exactly as before. `".."`
is used only within one actor's activation.
"""

from __future__ import annotations

import json
import re

from opencwm.trace import tokens as T
from opencwm.trace.frame import MESSAGE_EVENTS, MODULE_ENTRY, Frame, Trace
from opencwm.trace.resolve import Resolver
from opencwm.trace.source import source_lines, strip_marker


class TraceFormatError(ValueError):
    """Text that is not a well-formed CWM trace; the message says where."""


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def encode_locals(frame: Frame, prev: Frame | None) -> dict[str, str]:
    """The frame's locals with values unchanged since `prev` written `".."`."""
    if (
        frame.event != "line"
        or prev is None
        or prev.event not in ("call", "line")
        or prev.depth != frame.depth
        or prev.actor != frame.actor
    ):
        return dict(frame.locals)
    return {k: T.UNCHANGED if prev.locals.get(k) == v else v for k, v in frame.locals.items()}


def frame_text(frame: Frame, prev: Frame | None) -> str:
    """One frame, from its event token through its closing `<|frame_sep|>`."""
    if frame.event in MESSAGE_EVENTS:
        body = _dumps(frame.locals)
        return f"{T.LINE_SEP}{body}{T.ACTION_SEP}[{frame.actor}] <{frame.event}>\n{T.FRAME_SEP}"
    parts = [T.EVENT_TOKENS[frame.event]]
    if frame.event in ("call", "line"):
        parts.append(_dumps(encode_locals(frame, prev)))
    parts += [T.ACTION_SEP, actor_prefix(frame.actor), frame.source, "\n"]
    if frame.arg is not None:
        parts += [T.ARG_SEP, _dumps(frame.arg)]
    parts.append(T.FRAME_SEP)
    return "".join(parts)


def actor_prefix(actor: str | None) -> str:
    return "" if actor is None else f"[{actor}] "


_ACTOR = re.compile(r"\[([^\]\n]+)\] (.*)", re.DOTALL)


def split_actor(action: str, context_lines: dict) -> tuple[str | None, str]:
    """(actor, source line) of an action; no actor if the action is a line
    of the context as it stands or carries no `[ACTOR] ` prefix."""
    if action in context_lines:
        return None, action
    m = _ACTOR.fullmatch(action)
    return (m.group(1), m.group(2)) if m else (None, action)


def prompt_text(source: str) -> str:
    """The sequence before the first frame: what a model is prompted with."""
    return f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}{source}{T.FRAME_SEP}"


def to_cwm(trace: Trace) -> str:
    """The whole trace; `<|end_of_text|>` only if the entry was left."""
    out = [prompt_text(trace.source)]
    prev = None
    for frame in trace.frames:
        out.append(frame_text(frame, prev))
        prev = frame
    if trace.status in ("returned", "raised"):
        out.append(T.END_OF_TEXT)
    return "".join(out)


def parse_frame(text: str) -> tuple[str, dict[str, str] | None, str, str | None]:
    """Split one frame's text (without its closing separator) into
    (event, raw locals with `".."` left in, source line, arg)."""
    event = T.TOKEN_EVENTS.get(text[: text.find("|>") + 2]) if text.startswith("<|") else None
    if event is None:
        raise TraceFormatError(f"frame does not start with an event token: {text[:40]!r}")
    body = text[len(T.EVENT_TOKENS[event]) :]
    head, sep, rest = body.partition(T.ACTION_SEP)
    if not sep:
        raise TraceFormatError(f"{event} frame has no {T.ACTION_SEP}")
    locals_: dict[str, str] | None = None
    if event in ("call", "line"):
        try:
            locals_ = json.loads(head)
        except (ValueError, RecursionError) as exc:  # deep nesting: RecursionError
            raise TraceFormatError(f"{event} frame locals are not JSON: {exc}") from None
        if not isinstance(locals_, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in locals_.items()
        ):
            raise TraceFormatError(f"{event} frame locals must map names to strings")
        _check_unicode([*locals_, *locals_.values()], f"{event} frame locals")
    elif head:
        raise TraceFormatError(f"{event} frame has locals")
    source, sep, arg_text = rest.partition(T.ARG_SEP)
    if not source.endswith("\n"):
        raise TraceFormatError(f"{event} frame's source line does not end with a newline")
    arg = None
    if event in ("return", "exception"):
        if not sep:
            raise TraceFormatError(f"{event} frame has no {T.ARG_SEP}")
        try:
            arg = json.loads(arg_text)
        except (ValueError, RecursionError) as exc:
            raise TraceFormatError(f"{event} frame value is not JSON: {exc}") from None
        if not isinstance(arg, str):
            raise TraceFormatError(f"{event} frame value must be a JSON string")
        _check_unicode([arg], f"{event} frame value")
    elif sep:
        raise TraceFormatError(f"{event} frame has a value")
    return event, locals_, source[:-1], arg


def _check_unicode(texts: list[str], what: str) -> None:
    """JSON's `\\udXXX` escapes can make lone surrogates, which no repr
    shows and no tokenizer encodes: reject them here, not in the next prompt."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise TraceFormatError(
                f"{what}: a lone surrogate character (a \\udXXX escape)"
            ) from None


def resolve_locals(raw: dict[str, str], prev: Frame | None) -> dict[str, str]:
    """Fill `".."` from the previous frame (see the module's diff rule)."""
    out = {}
    for k, v in raw.items():
        if v == T.UNCHANGED:
            if prev is None or prev.event not in ("call", "line") or k not in prev.locals:
                raise TraceFormatError(f"{k!r} is '..' but no earlier value is in reach")
            v = prev.locals[k]
        out[k] = v
    return out


def split_context(text: str) -> tuple[str, str]:
    """(context source, the text of the frames that follow it)."""
    head = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START
    if not text.startswith(head):
        raise TraceFormatError(f"trace must start with {head}")
    context, sep, rest = text[len(head) :].partition(T.FRAME_SEP)
    if not sep:
        raise TraceFormatError("context is not closed by <|frame_sep|>")
    return context, rest


def entry_of(context: str) -> str:
    """The entry named on the marked `def` line, or `<module>` for a script."""
    for line in source_lines(context):
        if strip_marker(line) != line:
            name = line.strip().removeprefix("async ").removeprefix("def ").split("(")[0]
            return name.strip()
    return MODULE_ENTRY


def from_cwm(text: str) -> Trace:
    """Parse a complete or partial trace; raises TraceFormatError on bad text."""
    context, rest = split_context(text)
    ended = rest.endswith(T.END_OF_TEXT)
    if ended:
        rest = rest[: -len(T.END_OF_TEXT)]
    if rest and not rest.endswith(T.FRAME_SEP):
        raise TraceFormatError("last frame is not closed by <|frame_sep|>")
    chunks = rest.split(T.FRAME_SEP)[:-1] if rest else []
    resolver = Resolver(context)
    trace = Trace(source=context, entry=entry_of(context))
    prev: Frame | None = None
    for i, chunk in enumerate(chunks):
        try:
            event, raw, source, arg = parse_frame(chunk)
            actor, source = split_actor(source, resolver.by_text)
            if event == "line" and actor is not None and source in ("<send>", "<recv>"):
                event, source = source[1:-1], ""
                locals_ = dict(raw or {})
                if set(locals_) != {"src", "dst", "msg"}:
                    raise TraceFormatError(f"{event} frame must hold src, dst and msg")
                prev = Frame(event, 0, "", "", 0, locals_, None, actor)
                trace.frames.append(prev)
                continue
            locals_ = resolve_locals(raw, prev) if raw is not None else {}
        except TraceFormatError as exc:
            raise TraceFormatError(f"frame {i}: {exc}") from None
        line, func, depth = resolver.place(event, source, locals_, actor)
        prev = Frame(event, line, source, func, depth, locals_, arg, actor)
        trace.frames.append(prev)
    if not ended:
        trace.status, trace.reason = "truncated", "text ends before <|end_of_text|>"
    elif trace.frames and trace.frames[-1].event == "exception":
        trace.status = "raised"
    else:
        trace.status = "returned"
    return trace
