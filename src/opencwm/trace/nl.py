"""A trace in plain English, one sentence per frame, and back again.

Why: a narration is what a person reads and what a model can be asked to
write; to *measure* a narration it must parse back into the facts it
states. So the English here is a small, fixed grammar (docs/trace-format.md
states it): `parse_nl(to_nl(trace)) == narration_of(trace)` for every trace,
and with the program text `from_nl` rebuilds the `Trace` itself, frame
source lines and locals order included.

How values stay unambiguous: every name and value sits in a code span
(backticks). A span is fenced by a run of backticks of a length that does
not occur inside it, padded with one space when it starts or ends with a
backtick (CommonMark's rule). Text that is empty or holds anything
non-printable (a newline from a user's `__repr__`, a tab) is written
`escaped` followed by a span of its Python `repr`, so every sentence is one
printable line and the grammar's own words ("; ", " and ", " (was ") never
occur outside a span by accident.

What a sentence does not carry: the source line's text (its number names
it; `from_nl` reads it from the program) and the call depth, which the
reader derives from a stack of activations exactly as the writer does; only
where that stack disagrees with the trace (an exception swallowed by a
builtin, say) does a sentence name the depth.

Concurrent programs (frames with an actor): a step sentence starts
"Node `b`, line 12" instead of "Line 12", and each actor has a stack of its
own on both sides. A message is "Node `a` sends `MSG` to node `c`." or
"Node `c` receives `MSG` from node `a`."; a node is named by its string
name where its repr is that string's, else by the repr itself, and a
sender (receiver) whose repr is not its actor's name's is added as
"(from `SRC`)" ("(to `DST`)"). A narration of one activity reads exactly
as before.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from opencwm.trace.frame import MESSAGE_EVENTS, MODULE_ENTRY, Event, Frame, Status, Trace
from opencwm.trace.source import source_lines, strip_marker

T = TypeVar("T")


class NlFormatError(ValueError):
    """Text that is not a narration in this grammar; the message says where."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one sentence states: a `Frame` less its source text."""

    event: Event
    line: int
    func: str
    depth: int
    locals: dict[str, str] = field(default_factory=dict)
    arg: str | None = None
    actor: str | None = None


@dataclass(slots=True)
class Narration:
    """Every fact a narration states, in the order it states them."""

    entry: str
    input: str
    steps: list[Step]
    status: Status
    reason: str = ""
    stdout: str = ""


def narration_of(trace: Trace) -> Narration:
    """The facts taken directly from a trace (what `parse_nl` must recover)."""
    steps = [
        Step(f.event, f.line, f.func, f.depth, dict(f.locals), f.arg, f.actor) for f in trace.frames
    ]
    return Narration(trace.entry, trace.input, steps, trace.status, trace.reason, trace.stdout)


# -- code spans -------------------------------------------------------------
_TICKS = re.compile(r"`+")


def span(text: str) -> str:
    """`text` as a value a reader gets back exactly (see the module docstring)."""
    if not text or not text.isprintable():
        return "escaped " + span(repr(text))
    runs = {len(m.group()) for m in _TICKS.finditer(text)}
    fence = "`" * next(k for k in range(1, len(runs) + 2) if k not in runs)
    pad = (
        " "
        if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" "))
        else ""
    )
    return f"{fence}{pad}{text}{pad}{fence}"


def _tokens(sentence: str) -> tuple[list[str], list[str]]:
    """Split a sentence into words and spans: `texts[i]` precedes `spans[i]`,
    and `texts` has one more item (what follows the last span)."""
    texts, spans = [], []
    pos = 0
    opened: re.Match[str] | None = None
    for m in _TICKS.finditer(sentence):
        if opened is None:
            texts.append(sentence[pos : m.start()])
            opened = m
        elif len(m.group()) == len(opened.group()):
            content = sentence[opened.end() : m.start()]
            if len(content) > 1 and content[0] == content[-1] == " " and content.strip(" "):
                content = content[1:-1]
            spans.append(content)
            pos, opened = m.end(), None
    if opened is not None:
        raise NlFormatError(f"a code span opened at column {opened.start() + 1} is not closed")
    texts.append(sentence[pos:])
    return texts, spans


def _unescape(text: str) -> str:
    try:
        out = ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        out = None
    if not isinstance(out, str):
        raise NlFormatError(f"escaped value {text[:30]!r} is not a Python string literal")
    return out


class _Reader:
    """A cursor over one sentence's words and spans."""

    def __init__(self, sentence: str) -> None:
        self.texts, self.spans = _tokens(sentence)
        self.k = 0  # spans consumed
        self.pos = 0  # position in texts[k]

    @property
    def rest(self) -> str:
        return self.texts[self.k][self.pos :]

    def word(self, w: str) -> bool:
        if self.rest.startswith(w):
            self.pos += len(w)
            return True
        return False

    def expect(self, w: str) -> None:
        if not self.word(w):
            raise NlFormatError(f"expected {w!r}, found {self.rest[:30]!r}")

    def pattern(self, regex: re.Pattern[str]) -> re.Match[str] | None:
        m = regex.match(self.rest)
        if m:
            self.pos += m.end()
        return m

    def at_span(self) -> bool:
        return self.k < len(self.spans) and self.rest in ("", "escaped ")

    def raw_span(self) -> tuple[str, bool]:
        """(the next span's content, whether it was written `escaped`)."""
        if not self.at_span():
            raise NlFormatError(f"expected a value in backticks, found {self.rest[:30]!r}")
        escaped = self.rest == "escaped "
        text = self.spans[self.k]
        self.k, self.pos = self.k + 1, 0
        return text, escaped

    def value(self) -> str:
        text, escaped = self.raw_span()
        return _unescape(text) if escaped else text

    def done(self) -> None:
        if self.k != len(self.spans) or self.rest:
            raise NlFormatError(f"unexpected text at the end: {self.rest[:30]!r}")


# -- the stack of activations both sides keep --------------------------------
@dataclass(slots=True)
class _Activation:
    func: str
    locals: dict[str, str] | None = None  # state at its latest call/line frame


def _set_depth(stack: list[_Activation], depth: int, func: str, keep_top: bool) -> None:
    """Cut or pad the stack so that an activation of `func` sits at `depth`."""
    del stack[depth + (1 if keep_top else 0) :]
    while len(stack) < depth + (1 if keep_top else 0):
        stack.append(_Activation("?"))
    if keep_top and stack[-1].func != func:
        stack[-1] = _Activation(func)


def _apply(base: dict[str, str], sets: list[tuple[str, str]], deleted: list[str]) -> dict[str, str]:
    """The locals a reader gets: in place where a name was, new names last."""
    out = {k: v for k, v in base.items() if k not in deleted}
    out.update(sets)
    return out


# -- writing -----------------------------------------------------------------
def _binding(name: str, value: str) -> str:
    if name.isidentifier() and value and value.isprintable():
        return span(f"{name} = {value}")
    return f"{span(name)} = {span(value)}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _loop_targets(source: str) -> set[str]:
    """Names a `for` header assigns, if `source` is one."""
    text = source.strip()
    if not text.startswith(("for ", "async for ")):
        return set()
    for attempt in (text, text + "\n    pass"):
        try:
            node = ast.parse(attempt).body[0]
        except SyntaxError:
            continue
        if isinstance(node, ast.For | ast.AsyncFor):
            return {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return set()


def _changes(frame: Frame, base: dict[str, str], loop: set[str]) -> str:
    """The line frame's locals as changes to `base`, in the order a reader applies them."""
    clauses, sets, looped = [], [], []
    for name, value in frame.locals.items():
        if name in base and base[name] == value:
            continue
        if name in loop:
            looped.append((name, value))
            continue
        sets.append((name, value))
        if name in base:
            clauses.append(f"{span(name)} becomes {span(value)} (was {span(base[name])})")
        else:
            clauses.append(f"{span(name)} is set to {span(value)}")
    deleted = [name for name in base if name not in frame.locals]
    clauses += [f"{span(name)} is deleted" for name in deleted]
    if looped:
        verb = "goes on" if any(name in base for name, _ in looped) else "starts"
        clauses.append(f"the loop {verb} with " + _listing([_binding(*b) for b in looped]))
    if list(_apply(base, sets + looped, deleted)) != list(frame.locals):
        clauses.append("the names are now in the order " + _listing(list(map(span, frame.locals))))
    return "; ".join(clauses) or "nothing changes"


def _call_phrase(frame: Frame) -> str:
    head = frame.source.strip()
    if frame.func == MODULE_ENTRY:
        phrase = "the script starts"
    elif frame.func.startswith("<"):
        phrase = f"{span(frame.func)} runs"
    elif head.startswith("class "):
        phrase = f"the body of class {span(frame.func)} starts"
    elif head.startswith(("def ", "async def ")):
        phrase = f"{span(frame.func)} is called"
    else:
        phrase = f"{span(frame.func)} resumes"
    if frame.locals:
        phrase += " with " + _listing([_binding(k, v) for k, v in frame.locals.items()])
    return phrase


_YIELD = re.compile(r"\byield\b")


def _sentence(frame: Frame, prev: Frame | None, stack: list[_Activation]) -> str:
    where, propagated = "", False
    if frame.event == "call":
        if frame.depth == len(stack) - 1 and len(stack) >= 2:  # its caller was left unseen
            where = f", back in {span(stack[-2].func)}"
            stack.pop()
        elif frame.depth != len(stack):
            where = f", at depth {frame.depth} in {span(frame.func)}"
            _set_depth(stack, frame.depth, frame.func, keep_top=False)
        stack.append(_Activation(frame.func))
    elif stack and frame.depth == len(stack) - 1 and stack[-1].func == frame.func:
        pass
    elif len(stack) >= 2 and frame.depth == len(stack) - 2 and stack[-2].func == frame.func:
        stack.pop()
        propagated = frame.event == "exception"
        where = "" if propagated else f", back in {span(frame.func)}"
    else:
        where = f", at depth {frame.depth} in {span(frame.func)}"
        _set_depth(stack, frame.depth, frame.func, keep_top=True)
    top = stack[-1]
    if frame.event == "call":
        body = _call_phrase(frame)
    elif frame.event == "line":
        same = prev is not None and prev.event == "line" and prev.depth == frame.depth and not where
        loop = _loop_targets(prev.source) if same else set()
        body = _changes(frame, top.locals or {}, loop)
    elif frame.event == "return":
        verb = "yields" if _YIELD.search(frame.source) else "returns"
        body = f"{span(frame.func)} {verb} {span(frame.arg)}"
    elif propagated:
        body = f"{span(frame.arg)} propagates into {span(frame.func)}"
    else:
        body = f"{span(frame.func)} raises {span(frame.arg)}"
    if frame.event in ("call", "line"):
        top.locals = dict(frame.locals)
    elif frame.event == "return":
        stack.pop()
    return f"Line {frame.line}{where}: {body}."


def _node(r: str) -> str:
    """A node as a message sentence names it (see the module docstring)."""
    name = _string_of(r)
    return span(r) if name is None else f"node {span(name)}"


def _string_of(r: str) -> str | None:
    """The string whose repr `r` is, or None."""
    if r[:1] not in ("'", '"'):
        return None
    try:
        value = ast.literal_eval(r)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return None
    return value if isinstance(value, str) and repr(value) == r else None


def _message_sentence(frame: Frame) -> str:
    src, dst, msg = (frame.locals.get(k, "") for k in ("src", "dst", "msg"))
    me = repr(frame.actor)
    if frame.event == "send":
        body = f"sends {span(msg)} to {_node(dst)}" + ("" if src == me else f" (from {span(src)})")
    else:
        body = f"receives {span(msg)} from {_node(src)}"
        body += "" if dst == me else f" (to {span(dst)})"
    return f"Node {span(frame.actor)} {body}."


def _actor_line(actor: str, sentence: str) -> str:
    """A step sentence of an actor's: `Node `A`, line N...` for `Line N...`."""
    return f"Node {span(actor)}, line" + sentence.removeprefix("Line")


class Narrator:
    """Writes the step sentences of a run one frame at a time, exactly as
    `to_nl` does (it is this over every frame). `copy()` tries a frame
    without changing this narrator: an evaluator states a predicted frame
    after the true prefix, then goes on with the true frame. Frames of an
    actor use that actor's own stack and previous frame (`actors`)."""

    def __init__(self) -> None:
        self.stack: list[_Activation] = []
        self.prev: Frame | None = None
        self.actors: dict[str, tuple[list[_Activation], Frame | None]] = {}

    def sentence(self, frame: Frame) -> str:
        if frame.actor is None:
            out = _sentence(frame, self.prev, self.stack)
            self.prev = frame
            return out
        if frame.event in MESSAGE_EVENTS:
            return _message_sentence(frame)
        stack, prev = self.actors.get(frame.actor, ([], None))
        out = _sentence(frame, prev, stack)
        self.actors[frame.actor] = (stack, frame)
        return _actor_line(frame.actor, out)

    def state(self, frame: Frame) -> str:
        """`frame` (a call or line frame) stated in full: see `_state_sentence`."""
        if frame.actor is None:
            out = _state_sentence(frame, self.stack)
            self.prev = frame
            return out
        stack, _ = self.actors.get(frame.actor, ([], None))
        out = _state_sentence(frame, stack)
        self.actors[frame.actor] = (stack, frame)
        return _actor_line(frame.actor, out)

    def copy(self) -> Narrator:
        other = Narrator()
        # activations' dicts are replaced, never changed in place: a shallow copy is enough
        other.stack = _copied(self.stack)
        other.prev = self.prev
        other.actors = {a: (_copied(st), p) for a, (st, p) in self.actors.items()}
        return other


def _copied(stack: list[_Activation]) -> list[_Activation]:
    return [_Activation(a.func, a.locals) for a in stack]


# -- a full state (the head of a window, model/windows.py) -------------------
STATE = "the state is "


def _state_sentence(frame: Frame, stack: list[_Activation]) -> str:
    """`Line N, at depth D in F: the state is B, B and B.` (`the state is
    empty.` when F has no locals): every local of the activation at depth
    D, whatever the stack held, so it reads without the sentences before.
    A window that starts mid-trace opens with these (model/windows.py), as
    CWM text re-writes a frame in full; the reader takes it as a line step."""
    _set_depth(stack, frame.depth, frame.func, keep_top=True)
    stack[-1].locals = dict(frame.locals)
    items = [_binding(k, v) for k, v in frame.locals.items()]
    body = STATE + (_listing(items) if items else "empty")
    return f"Line {frame.line}, at depth {frame.depth} in {span(frame.func)}: {body}."


def _read_state(r: _Reader) -> dict[str, str]:
    """The locals a state body lists (after `STATE`)."""
    return {} if r.word("empty") else dict(_bindings(r))


# -- the whole run -----------------------------------------------------------
def to_nl(trace: Trace) -> str:
    """The trace as English: a heading, one sentence per frame, how it ended."""
    head = f"Tracing {span(trace.entry)}"
    out = [head + (f" on input {span(trace.input)}." if trace.input else ".")]
    narrator = Narrator()
    out += [narrator.sentence(frame) for frame in trace.frames]
    if trace.stdout:
        out.append(f"It printed {span(trace.stdout)}.")
    if trace.status in ("returned", "raised"):
        why = f": {span(trace.reason)}" if trace.reason else ""
        out.append(f"The run {trace.status}{why}.")
    elif trace.status == "truncated":
        out.append(f"The trace was cut short: {span(trace.reason)}.")
    else:
        out.append(f"The program could not be traced: {span(trace.reason)}.")
    return "\n".join(out) + "\n"


# -- reading -----------------------------------------------------------------
_LINE = re.compile(r"Line (\d+)")
_ACTOR_LINE = re.compile(r", line (\d+)")
_DEPTH = re.compile(r", at depth (\d+) in ")


def _bindings(r: _Reader) -> list[tuple[str, str]]:
    out = []
    while True:
        text, escaped = r.raw_span()
        if r.word(" = "):
            name = _unescape(text) if escaped else text
            out.append((name, r.value()))
        else:
            name, sep, value = text.partition(" = ")
            if escaped or not sep:
                raise NlFormatError(f"expected `name = value`, found {text[:30]!r}")
            out.append((name, value))
        if not (r.word(", ") or r.word(" and ")):
            return out


def _read_changes(r: _Reader, base: dict[str, str]) -> dict[str, str]:
    if r.word("nothing changes"):
        return dict(base)
    sets: list[tuple[str, str]] = []
    deleted: list[str] = []
    order: list[str] | None = None
    while True:
        if r.word("the loop starts with ") or r.word("the loop goes on with "):
            sets += _bindings(r)
        elif r.word("the names are now in the order "):
            order = [r.value()]
            while r.word(", ") or r.word(" and "):
                order.append(r.value())
        else:
            name = r.value()
            if r.word(" is set to "):
                if name in base:
                    raise NlFormatError(f"{name!r} is set as new but already has a value")
                sets.append((name, r.value()))
            elif r.word(" becomes "):
                value = r.value()
                r.expect(" (was ")
                old = r.value()
                r.expect(")")
                if base.get(name) != old:
                    raise NlFormatError(f"{name!r} was {base.get(name)!r}, not {old!r}")
                sets.append((name, value))
            elif r.word(" is deleted"):
                if name not in base:
                    raise NlFormatError(f"{name!r} is deleted but has no value")
                deleted.append(name)
            else:
                raise NlFormatError(f"expected a change of {name!r}, found {r.rest[:30]!r}")
        if not r.word("; "):
            break
    got = _apply(base, sets, deleted)
    if order is not None:
        if sorted(order) != sorted(got):
            raise NlFormatError(f"the order lists {order}, but the names are {list(got)}")
        got = {k: got[k] for k in order}
    return got


def _read_call(r: _Reader) -> tuple[str, dict[str, str]]:
    if r.word("the script starts"):
        func = MODULE_ENTRY
    elif r.word("the body of class "):
        func = r.value()
        r.expect(" starts")
    else:
        func = r.value()
        if not (r.word(" is called") or r.word(" runs") or r.word(" resumes")):
            raise NlFormatError(f"expected how {func!r} is entered, found {r.rest[:30]!r}")
    return func, dict(_bindings(r)) if r.word(" with ") else {}


_EVENT_AFTER_SPAN = (
    (" is called", "call"),
    (" runs", "call"),
    (" resumes", "call"),
    (" returns ", "return"),
    (" yields ", "return"),
    (" raises ", "exception"),
    (" propagates into ", "exception"),
)


def _event_of(r: _Reader) -> Event:
    if r.rest.startswith(("the script starts", "the body of class ")):
        return "call"
    after = r.texts[r.k + 1] if r.at_span() else ""
    return next((ev for words, ev in _EVENT_AFTER_SPAN if after.startswith(words)), "line")


def _back(stack: list[_Activation], func: str) -> None:
    if len(stack) < 2 or stack[-2].func != func:
        raise NlFormatError(f"not back in {func!r}: it is not the caller on the stack")
    stack.pop()


def _read_any(r: _Reader, stack: list[_Activation], actors: dict[str, list[_Activation]]) -> Step:
    """A step sentence of a run of one activity, or of an actor's."""
    if not r.word("Node "):
        return _read_step(r, stack)
    actor = r.value()
    if r.word(" sends "):
        return _read_message(r, actor, "send")
    if r.word(" receives "):
        return _read_message(r, actor, "recv")
    step = _read_step(r, actors.setdefault(actor, []), _ACTOR_LINE)
    return replace(step, actor=actor)


def _read_node(r: _Reader) -> str:
    return repr(r.value()) if r.word("node ") else r.value()


def _read_message(r: _Reader, actor: str, event: Event) -> Step:
    msg = r.value()
    me = repr(actor)
    if event == "send":
        r.expect(" to ")
        src, dst = me, _read_node(r)
        if r.word(" (from "):
            src = r.value()
            r.expect(")")
    else:
        r.expect(" from ")
        src, dst = _read_node(r), me
        if r.word(" (to "):
            dst = r.value()
            r.expect(")")
    return Step(event, 0, "", 0, {"src": src, "dst": dst, "msg": msg}, None, actor)


def _read_step(r: _Reader, stack: list[_Activation], opening: re.Pattern[str] = _LINE) -> Step:
    m = r.pattern(opening)
    if m is None:
        raise NlFormatError(f"a step starts with 'Line N', found {r.rest[:30]!r}")
    line, depth, back = int(m.group(1)), None, None
    if d := r.pattern(_DEPTH):
        depth, named = int(d.group(1)), r.value()
    elif r.word(", back in "):
        back = r.value()
    r.expect(": ")
    event = _event_of(r)
    if event == "call":
        func, locals_ = _read_call(r)
        if back is not None:
            _back(stack, back)
        elif depth is not None:
            _set_depth(stack, depth, named, keep_top=False)
        stack.append(_Activation(func, locals_))
        return Step("call", line, func, len(stack) - 1, locals_)
    name = arg = None
    if event in ("return", "exception"):
        first = r.value()
        if r.word(" propagates into "):
            arg, back = first, r.value()
        else:
            name = first
            if not (r.word(" returns ") or r.word(" yields ") or r.word(" raises ")):
                raise NlFormatError(f"expected what {name!r} does, found {r.rest[:30]!r}")
            arg = r.value()
    if depth is not None:
        _set_depth(stack, depth, named, keep_top=True)
    elif back is not None:
        _back(stack, back)
    elif not stack:
        raise NlFormatError("a step outside any call")
    top = stack[-1]
    if name is not None and name != top.func:
        raise NlFormatError(f"{name!r} is named, but the step is in {top.func!r}")
    if event == "line":
        top.locals = _read_state(r) if r.word(STATE) else _read_changes(r, top.locals or {})
        return Step("line", line, top.func, len(stack) - 1, dict(top.locals))
    if event == "return":
        stack.pop()
    return Step(event, line, top.func, len(stack) - (0 if event == "return" else 1), {}, arg)


class StepReader:
    """Reads step sentences one at a time, keeping the stack of activations
    between them (`parse_nl` is this over the sentences between heading and
    ending). A sentence that does not parse raises `NlFormatError` and
    leaves the reader as it was, so a caller can report it and go on."""

    def __init__(self) -> None:
        self.stack: list[_Activation] = []
        self.actors: dict[str, list[_Activation]] = {}  # each actor's stack

    def read(self, sentence: str) -> Step:
        trial = _copied(self.stack)
        actors = {a: _copied(st) for a, st in self.actors.items()}
        step = _sentence_reader(sentence, lambda r: _read_any(r, trial, actors))
        self.stack, self.actors = trial, actors
        return step

    def copy(self) -> StepReader:
        other = StepReader()
        other.stack = _copied(self.stack)
        other.actors = {a: _copied(st) for a, st in self.actors.items()}
        return other


def _read_heading(r: _Reader) -> tuple[str, str]:
    r.expect("Tracing ")
    entry = r.value()
    return entry, r.value() if r.word(" on input ") else ""


def _read_ending(r: _Reader) -> tuple[Status, str]:
    for status, words in (("returned", "The run returned"), ("raised", "The run raised")):
        if r.word(words):
            return status, r.value() if r.word(": ") else ""
    if r.word("The trace was cut short: "):
        return "truncated", r.value()
    r.expect("The program could not be traced: ")
    return "failed", r.value()


def _sentence_reader(sentence: str, parse: Callable[[_Reader], T]) -> T:
    r = _Reader(sentence)
    out = parse(r)
    r.expect(".")
    r.done()
    return out


def parse_nl(text: str) -> Narration:
    """The facts a narration states; `NlFormatError` names the faulty sentence."""
    sentences = text.split("\n")
    if sentences and sentences[-1] == "":
        sentences.pop()
    if len(sentences) < 2:
        raise NlFormatError("a narration has a heading and an ending sentence at least")
    reader = StepReader()
    steps: list[Step] = []
    stdout = ""
    try:
        i = 0
        entry, input_ = _sentence_reader(sentences[0], _read_heading)
        for i in range(1, len(sentences) - 1):
            if i == len(sentences) - 2 and sentences[i].startswith("It printed "):
                stdout = _sentence_reader(sentences[i], _read_printed)
            else:
                steps.append(reader.read(sentences[i]))
        i = len(sentences) - 1
        status, reason = _sentence_reader(sentences[i], _read_ending)
    except NlFormatError as exc:
        raise NlFormatError(f"sentence {i + 1}: {exc}") from None
    return Narration(entry, input_, steps, status, reason, stdout)


def _read_printed(r: _Reader) -> str:
    r.expect("It printed ")
    return r.value()


def from_nl(text: str, source: str) -> Trace:
    """The trace a narration tells of, given the program it ran (the context
    as `Trace.source` holds it): source lines come from there."""
    n = parse_nl(text)
    lines = program_lines(source)
    frames = [frame_of(s, lines) for s in n.steps]
    return Trace(source, n.entry, frames, n.status, n.reason, n.input, n.stdout)


def program_lines(source: str) -> list[str]:
    """The program's lines as frames carry them (the entry's marker removed)."""
    return [strip_marker(line) for line in source_lines(source)]


def frame_of(step: Step, lines: list[str]) -> Frame:
    """The frame a step states, its source text read from `program_lines`
    (empty for a line number the program does not have)."""
    text = lines[step.line - 1] if 0 < step.line <= len(lines) else ""
    if step.event in MESSAGE_EVENTS:
        text = ""
    return Frame(
        step.event, step.line, text, step.func, step.depth, step.locals, step.arg, step.actor
    )
