"""The debugger session: a state machine over frames, independent of any UI.

Like `bdb` under `pdb`, this knows nothing of terminals or pages: the REPL
(`repl.py`) and the web app (`web.py`) are thin layers that call one method
per command and draw what `views()`, `where()` and `listing()` return.

The state is the world's list of frames (the last one is where the
debugger stands) plus a history of what each command did, so `back` undoes
exactly one thing: a frame added, an end reached, or a `set`. Moves are
built from one primitive, `_advance(force)`: a step (into) asks for the
next frame; a step over forces the `return` event after a call frame, so
the model writes the callee's return value without imagining its body
(in the real world the recorded body is skipped instead).

Concurrent programs (frames with an `actor`, docs/trace-format.md): each
actor has its own stack, so `where`, what changed, `print` at a return and
the moves go by the frames of the current frame's actor; frames of other
actors run on in between. Nothing is forced there: a forced `return` would
skip the messages a node's handler sends, so stepping over a call steps
through it (the imagined world still writes every frame). At a message
frame, or once the actor has left its last activation, `next` and `out`
are a step.

A frame the model writes that does not parse, or whose source line is not
one of the program's (a model decoding freely can write one), is kept as
`invalid` with its raw text; nothing is added, and the next move at that
point samples again (temperature `resample_temperature`, a new seed),
since greedy decoding would write the same text again. A backend that fails
(`BackendError`) leaves the state as it was: repeating the command retries.
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass, field, replace

from opencwm.debug.truth import Disagreement, align, disagreement
from opencwm.debug.worlds import DebugError, ImaginedWorld, RealWorld, World
from opencwm.trace.frame import MESSAGE_EVENTS, MODULE_ENTRY, Frame, Trace
from opencwm.trace.source import source_lines, strip_marker
from opencwm.world.backends import Backend, Sampling
from opencwm.world.rollout import Imagined, RolloutConfig, Step, marked

__all__ = ["DebugError", "FrameView", "Moved", "Session", "SessionConfig", "StackEntry"]


@dataclass(frozen=True)
class SessionConfig:
    max_frames: int = 1000
    """Frames a session holds at most (a runaway `continue` stops there)."""
    sampling: Sampling = field(default_factory=Sampling)
    resample_temperature: float = 0.8
    """Used to ask again after an invalid frame, and by `reset` without
    arguments, when `sampling` is greedy (greedy would repeat itself)."""
    trace_timeout_s: float = 10.0
    """Wall-clock limit of a real run (the real world, `truth on`)."""


@dataclass(frozen=True)
class Moved:
    """What a move did: how many frames it added and why it stopped."""

    added: int
    why: str = ""
    """'' (did what was asked), 'breakpoint', 'ended', 'invalid', or a
    one-line reason such as the frame limit."""


@dataclass(frozen=True)
class StackEntry:
    func: str
    line: int
    source: str


@dataclass(frozen=True)
class FrameView:
    """One frame as a UI shows it, with the real run beside it (`truth on`)."""

    index: int
    frame: Frame
    changed: tuple[str, ...]
    """Locals new or changed since the previous frame of the same activation."""
    real: Frame | None = None
    disagreement: Disagreement | None = None
    counterfactual: bool = False
    """At or after an edited frame: the real run never had this state."""


class Session:
    """Step through `entry(input)` in `source`, imagined by `backend`, or
    for real (the sandboxed tracer) when `backend` is None.

    `input` None with a backend: the model writes the call frame, inventing
    the arguments (as CWM's debugger does). Raises `DebugError` (one line)
    when the program or the arguments are bad; `BackendError` when the
    backend cannot answer the first question.
    """

    def __init__(
        self,
        source: str,
        entry: str | None = None,
        input: str | None = None,
        *,
        backend: Backend | None = None,
        stdin: str | None = None,
        config: SessionConfig | None = None,
        sandbox: object | None = None,
    ) -> None:
        from opencwm.tracer import program

        self.config = config or SessionConfig()
        self.backend = backend
        self.stdin = stdin
        self.sandbox = sandbox
        try:
            self.tree = program.parse(source)
            self.entry = program.resolve_entry(source, self.tree, entry)
            if input is not None and self.entry != MODULE_ENTRY:
                program.check_input(input)
            if input and self.entry == MODULE_ENTRY:
                raise program.ProgramError(
                    "arguments given, but nothing marks an entry function: the whole script "
                    "would run (pass --entry FUNCTION, or mark it # << START_OF_TRACE)"
                )
        except program.ProgramError as exc:
            raise DebugError(str(exc)) from None
        self.source = source
        self.breakpoints: set[int] = set()
        self.truth = False
        self._real: dict[str, Trace] = {}
        self._start(input, self.config.sampling)

    # ---- state --------------------------------------------------------------

    def _start(self, input: str | None, sampling: Sampling) -> None:
        """A fresh execution (the constructor, `reset`)."""
        self.input = input
        self.sampling = sampling
        self.history: list[tuple] = []  # ("frame",) | ("end",) | ("edit", index, original)
        self.forced: list[str | None] = []  # the force that made each frame
        self.invalid: Step | None = None
        self.invented = False
        self._retries = 0
        if self.backend is None:
            trace = self._run_real(input if input is not None else "")
            if trace.status == "failed":
                raise DebugError(trace.reason)
            if not trace.frames:
                raise DebugError(f"the real run made no frame: {trace.reason}")
            self.context = trace.source
            self.world: World = RealWorld(trace)
            self.forced = [None]
            return
        config = RolloutConfig(max_frames=self.config.max_frames, sampling=sampling)
        if input is not None or self.entry == MODULE_ENTRY:
            call = self._run_real(input or "", max_frames=1)
            if call.status == "failed" or not call.frames:
                raise DebugError(call.reason or "the program made no call frame")
            self.context = call.source
            self.world = ImaginedWorld(Imagined(call.source, self.backend, config))
            self.world.frames.append(call.frames[0])
            self.forced = [None]
        else:
            bare = marked(self.source, self.entry)
            if bare.status == "failed":
                raise DebugError(bare.reason)
            self.context = bare.source
            self.world = ImaginedWorld(Imagined(bare.source, self.backend, config))
            self.invented = True
            self._advance()
            if self.world.frames:
                self.history.clear()  # the first frame is not undoable

    def _run_real(self, input: str, max_frames: int | None = None) -> Trace:
        from opencwm.tracer.api import TraceConfig, trace_program

        config = TraceConfig(
            timeout_s=self.config.trace_timeout_s,
            max_frames=max_frames or self.config.max_frames,
        )
        kwargs = {"sandbox": self.sandbox} if self.sandbox is not None else {}
        entry = None if self.entry == MODULE_ENTRY else self.entry
        return trace_program(self.source, entry, input, stdin=self.stdin, config=config, **kwargs)

    @property
    def real_world(self) -> bool:
        return isinstance(self.world, RealWorld)

    @property
    def frames(self) -> list[Frame]:
        return self.world.frames

    @property
    def current(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    @property
    def ended(self) -> bool:
        return self.world.ended

    def ending(self) -> str:
        """How the execution ended, in words ('' while it goes on)."""
        if not self.ended:
            return ""
        last = self.current
        if last is not None and last.depth == 0 and last.event == "return":
            return f"returned {last.arg}"
        if last is not None and last.event == "exception":
            return f"raised {last.arg}"
        return "the model ended the execution here"

    @property
    def lines(self) -> list[str]:
        """The program's lines (1-based via index + 1), without the marker."""
        return [strip_marker(line) for line in source_lines(self.context)]

    # ---- the primitive --------------------------------------------------------

    def _advance(self, force: str | None = None) -> Step:
        w = self.world
        if w.ended:
            raise DebugError("the execution has ended: `back` to undo, `reset` to start again")
        if len(w.frames) >= self.config.max_frames:
            raise DebugError(
                f"frame limit reached ({self.config.max_frames} frames): back or reset"
            )
        if not w.frames:
            force = "call"  # the model is still to write the call frame
        sampling = None
        if self.invalid is not None:  # asking again where the model went wrong
            self._retries += 1
            s = self.sampling
            sampling = replace(
                s,
                temperature=max(s.temperature, self.config.resample_temperature),
                seed=s.seed + self._retries,
            )
        step = w.advance(force, sampling)
        if (
            step.frame is not None
            and step.frame.line == 0
            and step.frame.event not in MESSAGE_EVENTS  # a message is at no line
            and not self.real_world
        ):
            # a source line the program does not have (free decoding through an
            # endpoint): there is no line to show it at, so it is not a frame
            w.truncate(len(w.frames) - 1)
            why = f"the line {step.frame.source.strip()!r} is not in the program"
            step = Step(None, step.raw, why)
        if step.frame is not None:
            self.history.append(("frame",))
            self.forced.append(force)
            self.invalid, self._retries = None, 0
        elif w.ended:
            self.history.append(("end",))
            self.invalid = None
        else:
            self.invalid = step
        return step

    def _loop(self, stop, force_after=lambda f: None) -> Moved:
        """Advance until `stop(frame)` is true, the execution ends, a frame
        is invalid or the frame limit is reached; `force_after(frame)`
        picks the force of the next advance."""
        added, force = 0, None
        while True:
            if added and len(self.frames) >= self.config.max_frames:
                return Moved(added, f"frame limit reached ({self.config.max_frames} frames)")
            step = self._advance(force)
            if step.frame is None:
                return Moved(added, "ended" if self.ended else "invalid")
            added += 1
            if self.ended:
                return Moved(added, "ended")
            if stop(step.frame):
                return Moved(added, "breakpoint" if self._on_break(step.frame) else "")
            force = force_after(step.frame)

    def _on_break(self, f: Frame) -> bool:
        return f.event in ("call", "line") and f.line in self.breakpoints

    def _activation_depth(self) -> int:
        """Depth of the activation the debugger stands in (a return frame
        has left its own)."""
        f = self.current
        if f is None:
            return 0
        return f.depth - 1 if f.event == "return" else f.depth

    @property
    def concurrent(self) -> bool:
        """Whether the program runs several actors (the recorder's test on
        the program, or an actor on a frame)."""
        from opencwm.distributed.recorder import is_concurrent

        return is_concurrent(self.context) or any(f.actor is not None for f in self.frames)

    def _over(self, f: Frame, d: int) -> str | None:
        """The force after frame `f` when stepping over calls below depth `d`."""
        if f.event == "call" and f.depth > d and not self.concurrent:
            return "return"
        return None

    def _mine(self) -> tuple[str | None, bool]:
        """(the current frame's actor, whether over/out stay with it): not at
        a message frame, nor once the actor has left its last activation."""
        f = self.current
        if f is None or f.actor is None:
            return None, True
        left = f.event in MESSAGE_EVENTS or (f.event == "return" and f.depth == 0)
        return f.actor, not left

    # ---- moves ----------------------------------------------------------------

    def step(self) -> Moved:
        """Step into: one frame."""
        return self._loop(lambda f: True)

    def next(self) -> Moved:
        """Step over: to the next frame of this activation or its caller
        (of the same actor); a call on the way is answered by its return
        frame alone (in a concurrent program, stepped through)."""
        d = self.current.depth if self.current is not None else 0
        actor, stay = self._mine()
        if not stay:
            return self.step()
        return self._loop(
            lambda f: (f.actor == actor and f.depth <= d) or self._on_break(f),
            lambda f: self._over(f, d) if f.actor == actor else None,
        )

    def out(self) -> Moved:
        """Step out: over the rest of this activation, to the frame that
        leaves it (stopping at a breakpoint in it)."""
        d = self._activation_depth()
        actor, stay = self._mine()
        if not stay:
            return self.step()
        return self._loop(
            lambda f: (
                (
                    (f.actor == actor and f.event not in MESSAGE_EVENTS)
                    and (
                        f.depth < d
                        or (f.depth == d and f.event in ("return", "exception"))
                        or (f.depth == d and self._on_break(f))
                    )
                )
                or (f.actor != actor and self._on_break(f))
            ),
            lambda f: self._over(f, d) if f.actor == actor else None,
        )

    def cont(self) -> Moved:
        """Continue: step into everything until a breakpoint or the end."""
        return self._loop(self._on_break)

    def back(self) -> str:
        """Undo the last frame, end or edit; returns what was undone."""
        self.invalid, self._retries = None, 0
        if not self.history:
            raise DebugError("at the first frame: nothing to undo")
        action = self.history.pop()
        if action[0] == "frame":
            self.world.truncate(len(self.frames) - 1)
            self.forced.pop()
            return "frame"
        if action[0] == "end":
            self.world.truncate(len(self.frames))
            return "end"
        _, i, original = action
        self.world.replace(i, original)
        return "edit"

    # ---- breakpoints ---------------------------------------------------------

    def add_break(self, spec: str) -> int:
        """A breakpoint at a line number, or at the `def` line of a function
        (its call frames stop there). Returns the line."""
        spec = spec.strip()
        if spec.isidentifier():
            lines = [
                n.lineno
                for n in ast.walk(self.tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == spec
            ]
            if not lines:
                raise DebugError(f"no function {spec!r} in the program")
            line = lines[0]
        else:
            line = self._line_number(spec)
            text = self.lines[line - 1].strip()
            if not text or text.startswith("#"):
                raise DebugError(f"line {line} is blank or a comment: no frame stops there")
        self.breakpoints.add(line)
        return line

    def clear_break(self, spec: str | None = None) -> list[int]:
        """Remove the breakpoint at a line, or all of them; returns those removed."""
        if spec is None or not spec.strip():
            gone = sorted(self.breakpoints)
            self.breakpoints.clear()
            return gone
        line = self._line_number(spec)
        if line not in self.breakpoints:
            raise DebugError(f"no breakpoint at line {line}")
        self.breakpoints.discard(line)
        return [line]

    def _line_number(self, spec: str) -> int:
        try:
            line = int(spec.strip())
        except ValueError:
            raise DebugError(f"expected a line number, got {spec.strip()!r}") from None
        if not 1 <= line <= len(self.lines):
            raise DebugError(f"line {line} is outside the program (lines 1-{len(self.lines)})")
        return line

    # ---- reading the state ------------------------------------------------------

    def values(self, name: str | None = None) -> dict[str, str]:
        """The locals where the debugger stands (at a return or exception
        frame: those of the activation it leaves), full (`".."` resolved
        against the frame before, by the codec, when the frame was read);
        one of them with `name`."""
        i = len(self.frames) - 1
        f = self.current
        if f is None:
            raise DebugError("no frame yet: step to ask the model for the call frame")
        if f.event in ("return", "exception"):
            j = _activation_frame(self.frames, i)
            known = dict(self.frames[j].locals) if j is not None else {}
        else:
            known = dict(f.locals)
        if name is None:
            return known
        if name not in known:
            names = ", ".join(sorted(known)) or "none"
            raise DebugError(f"no local {name!r} here; known: {names}")
        return {name: known[name]}

    def where(self) -> list[StackEntry]:
        """The call stack at the current frame, outermost first (in a
        concurrent program, its actor's)."""
        cur = self.current
        return self.stacks().get(cur.actor if cur is not None else None, [])

    def stacks(self) -> dict[str | None, list[StackEntry]]:
        """Each actor's call stack at its latest frame, outermost first, in
        the order the actors first appear (one entry, None, for a program of
        one activity). Message frames are on no stack."""
        out: dict[str | None, list[StackEntry]] = {}
        for f in self.frames:
            stack = out.setdefault(f.actor, [])
            if f.event not in MESSAGE_EVENTS:
                del stack[f.depth :]
                stack.append(StackEntry(f.func, f.line, f.source))
        return out

    def listing(self, around: int | None = None, context: int = 5) -> list[tuple[int, str]]:
        """(line number, text) of the program around a line (default: the current one)."""
        lines = self.lines
        if around is None:  # a message frame is at no line: its actor's latest one
            stack = self.where()
            around = self.current.line if self.current is not None else 1
            around = around or (stack[-1].line if stack else 1)
        elif not 1 <= around <= len(lines):
            raise DebugError(f"line {around} is outside the program (lines 1-{len(lines)})")
        lo = max(1, around - context)
        hi = min(len(lines), lo + 2 * context)
        lo = max(1, hi - 2 * context)
        return [(n, lines[n - 1]) for n in range(lo, hi + 1)]

    def views(self) -> list[FrameView]:
        """Every frame with what changed and, when truth is on, its real partner."""
        frames = self.frames
        reals: list[Frame | None] = [None] * len(frames)
        cf_from = len(frames)
        if self.truth and not self.real_world:
            cf_from = self._counterfactual_from()
            try:
                trace = self.truth_trace()
            except DebugError:  # e.g. invented arguments that are no Python: nothing beside
                trace = None
            if trace is not None:
                for i, pos in enumerate(align(trace.frames, self.forced)):
                    if pos is not None and i < cf_from:
                        reals[i] = trace.frames[pos]
        out = []
        for i, f in enumerate(frames):
            real = reals[i]
            out.append(
                FrameView(
                    i,
                    f,
                    _changed(frames, i),
                    real,
                    disagreement(f, real) if real is not None else None,
                    self.truth and i >= cf_from,
                )
            )
        return out

    # ---- counterfactuals ------------------------------------------------------

    def set_value(self, name: str, expr: str) -> str:
        """Give local `name` the value of the Python literal `expr` in the
        current frame; the model continues from the edited state. Returns
        the new value's repr. In the real world only the call frame can be
        edited: the program runs again on the edited arguments."""
        name = name.strip()
        if not name.isidentifier() or keyword.iskeyword(name):
            raise DebugError(f"{name!r} is not a variable name")
        value = literal_repr(expr)
        f = self.current
        if f is None:
            raise DebugError("no frame yet: step to ask the model for the call frame")
        if f.event in MESSAGE_EVENTS:
            raise DebugError(f"this is a {f.event} frame, a message, not locals: step to a line")
        if f.event not in ("call", "line"):
            raise DebugError(
                f"this is a {f.event} frame, which holds a value, not locals: step to a line first"
            )
        i = len(self.frames) - 1
        locals_ = {**f.locals, name: value}
        edited = Frame(f.event, f.line, f.source, f.func, f.depth, locals_, actor=f.actor)
        if self.real_world and i == 0 and self.entry != MODULE_ENTRY:
            args = call_input(self.tree, self.entry, edited.locals)
            if args is None:
                raise DebugError("cannot write these arguments as a call")
            self._start(args, self.sampling)
            return value
        self.world.replace(i, edited)  # the real world refuses, saying why
        self.history.append(("edit", i, f))
        self.invalid, self._retries = None, 0
        return value

    def _counterfactual_from(self) -> int:
        """First frame the real run cannot stand beside: the earliest edit,
        except an edit of the entry's call frame (the real program then
        runs on the edited arguments)."""
        edits = [a[1] for a in self.history if a[0] == "edit"]
        edits = [i for i in edits if i > 0 or self.entry == MODULE_ENTRY]
        return min(edits, default=len(self.frames))

    def truth_input(self) -> str:
        """The arguments the real run takes: the given ones, unless the model
        invented them or the call frame was edited (then the call frame's)."""
        edited_call = any(a[0] == "edit" and a[1] == 0 for a in self.history)
        if self.entry == MODULE_ENTRY:
            return ""
        if (self.invented or edited_call) and self.frames:
            args = call_input(self.tree, self.entry, self.frames[0].locals)
            if args is None:
                raise DebugError("the call frame's values cannot be written as arguments")
            return args
        return self.input or ""

    def truth_trace(self) -> Trace | None:
        """The real run for `truth_input()` (cached), or None when there is no
        call frame yet."""
        if not self.frames:
            return None
        args = self.truth_input()
        if args not in self._real:
            self._real[args] = self._run_real(args)
        return self._real[args]

    def set_truth(self, on: bool) -> str:
        """Run the real tracer alongside (on) or not; returns a one-line note."""
        if on and self.real_world:
            raise DebugError("this session steps through the real run already")
        self.truth = on
        if not on:
            return "truth off"
        trace = self.truth_trace()
        if trace is None:
            return "truth on (the real run starts once there is a call frame)"
        if trace.status == "failed":
            self.truth = False
            raise DebugError(f"the real program cannot run: {trace.reason}")
        return f"truth on: the real run {_trace_ending(trace)}"

    def reset(self, input: str | None = None) -> str:
        """Start a new execution: on `input` when given (greedy, as at the
        start); without, sample a new one (a new seed; the model invents the
        arguments if none were ever given). Returns a one-line note."""
        from opencwm.tracer import program

        if input is not None and input.strip():
            input = input.strip()
            if self.entry == MODULE_ENTRY:
                raise DebugError("a script takes no arguments")
            try:
                program.check_input(input)
            except program.ProgramError as exc:
                raise DebugError(str(exc)) from None
            self._start(input, self.config.sampling)
            return f"started again on {self.entry}({input})"
        s = self.sampling
        sampling = replace(
            s,
            seed=s.seed + 1,
            temperature=s.temperature or self.config.resample_temperature,
        )
        if self.real_world:
            self._start(self.input, sampling)
            return "started again (the real run is the same every time)"
        self._start(self.input, sampling)
        return f"resampled (seed {sampling.seed}, temperature {sampling.temperature:g})"


def _activation_frame(frames: list[Frame], i: int) -> int | None:
    """The last call or line frame of the activation frame `i` is in (of
    its actor: other actors' frames and messages are passed over)."""
    depth, actor = frames[i].depth, frames[i].actor
    for j in range(i - 1, -1, -1):
        f = frames[j]
        if f.actor != actor or f.event in MESSAGE_EVENTS:
            continue
        if f.depth < depth:
            return None
        if f.depth == depth and f.event in ("call", "line"):
            return j
    return None


def _changed(frames: list[Frame], i: int) -> tuple[str, ...]:
    f = frames[i]
    if f.event not in ("call", "line"):
        return ()
    j = _activation_frame(frames, i) if f.event == "line" else None
    before = frames[j].locals if j is not None else {}
    return tuple(k for k, v in f.locals.items() if before.get(k) != v)


def literal_repr(expr: str) -> str:
    """The repr of a Python literal: values are shown as reprs, and nothing
    the user types is ever run in this process."""
    try:
        value = ast.literal_eval(expr.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise DebugError(
            f"{expr.strip()!r} is not a Python literal (a number, string, bytes, bool, None, "
            "or a tuple, list, dict or set of them)"
        ) from None
    return repr(value)


def call_input(tree: ast.Module, entry: str, values: dict[str, str]) -> str | None:
    """Call arguments (`--input` text) that bind `entry`'s parameters to the
    reprs in `values`, or None when a parameter is missing."""
    fn = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry
        ),
        None,
    )
    if fn is None:
        return None
    a = fn.args
    parts = []
    for p in (*a.posonlyargs, *a.args):
        if p.arg not in values:
            return None
        parts.append(values[p.arg])
    if a.vararg is not None:
        if a.vararg.arg not in values:
            return None
        parts.append(f"*{values[a.vararg.arg]}")
    for p in a.kwonlyargs:
        if p.arg not in values:
            return None
        parts.append(f"{p.arg}={values[p.arg]}")
    if a.kwarg is not None:
        if a.kwarg.arg not in values:
            return None
        parts.append(f"**{values[a.kwarg.arg]}")
    return ", ".join(parts)


def _trace_ending(trace: Trace) -> str:
    if trace.status == "returned":
        return f"returned {trace.result} after {len(trace.frames)} frames"
    if trace.status == "raised":
        return f"raised {trace.result} after {len(trace.frames)} frames"
    return f"was cut after {len(trace.frames)} frames: {trace.reason}"
