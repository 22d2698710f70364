"""The neural tracer: predict an execution frame by frame.

The call frame comes from the real arguments, bound to the entry's
signature by the real tracer stopped before the body runs (so defaults
are filled in exactly as Python would). From there the model is asked for
one frame at a time; each reply is parsed into the same `Frame` the real
tracer makes, or kept as an invalid step with its raw text. The prompt
only ever grows at its end, so a backend with a KV cache never re-encodes
the history; when it outgrows the model's window the source, the state
(the latest frame of each live caller, in full) and the most recent frames
are kept: the training windows' policy, one function (`model/windows.py`,
`window_frames`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from opencwm.model.windows import live_callers, window_frames
from opencwm.trace import tokens as T
from opencwm.trace.cwm import (
    TraceFormatError,
    frame_text,
    parse_frame,
    prompt_text,
    resolve_locals,
    split_actor,
)
from opencwm.trace.frame import MODULE_ENTRY, Frame, Trace
from opencwm.trace.resolve import Resolver
from opencwm.world.backends import Backend, Sampling


@dataclass(frozen=True)
class RolloutConfig:
    max_frames: int = 300
    sampling: Sampling = field(default_factory=Sampling)
    keep_frames: int = 24
    """Recent frames kept (after the source and the callers' state) when the
    prompt outgrows the window."""


@dataclass
class Step:
    """One answer of the model: a frame, or the raw text that did not parse."""

    frame: Frame | None
    raw: str
    error: str = ""


def real_call_frame(source: str, entry: str | None, input: str) -> Trace:
    """A one-frame real trace: the entry's call frame, body not run."""
    from opencwm.tracer.api import TraceConfig, trace_program

    return trace_program(source, entry, input, config=TraceConfig(max_frames=1, timeout_s=10))


def marked(source: str, entry: str | None) -> Trace:
    """A frameless trace holding the context (the entry's `def` marked),
    found without running anything: for a rollout whose arguments the model
    invents, binding no arguments would fail. Status `failed` with the
    reason if the program does not parse or has no such entry."""
    from opencwm.tracer import program

    try:
        tree = program.parse(source)
        entry = program.resolve_entry(source, tree, entry)
        context = program.with_marker(source, tree, entry)
    except program.ProgramError as exc:
        return Trace(source, entry or "", status="failed", reason=str(exc))
    return Trace(context, entry, status="truncated", reason="not run")


class Imagined:
    """An execution the model imagines, advanced one frame at a time.

    `frames` is the whole state (the debugger's `back` pops it, `set`
    replaces the last frame's locals); the prompt is rebuilt from it.
    """

    def __init__(self, context: str, backend: Backend, config: RolloutConfig = RolloutConfig()):
        self.context = context
        self.backend = backend
        self.config = config
        self.frames: list[Frame] = []
        self.steps: list[Step] = []
        self.ended = False
        self._prompt_head = prompt_text(context)
        self._start = 0  # first frame kept in the prompt (window policy)
        self._callers: int | None = None  # innermost callers kept (None: all)
        self._head: tuple[tuple, str] | None = None  # (key, text) of the window's head
        self._resolver: Resolver | None = None
        self._placed_upto: list[Frame] = []

    @property
    def entry(self) -> str:
        from opencwm.trace.cwm import entry_of

        return entry_of(self.context)

    def prompt(self) -> str:
        """The source, then `window_frames` from `_start`. Its head (the
        callers' state and the first frame) is remembered between steps:
        finding the callers walks every frame before the window."""
        frames, start = self.frames, self._start
        if start >= len(frames):
            return self._prompt_head
        key = (start, self._callers, frames[0], frames[start - 1], frames[start])
        if self._head is None or not _same(self._head[0], key):
            pairs = window_frames(frames, start, start + 1, self._callers)
            self._head = (key, "".join(frame_text(f, prev) for f, prev in pairs))
        rest = (frame_text(frames[i], frames[i - 1]) for i in range(start + 1, len(frames)))
        return self._prompt_head + self._head[1] + "".join(rest)

    def _fit_window(self) -> str:
        prompt = self.prompt()
        budget = self.backend.context_tokens - self.config.sampling.max_tokens
        if self.backend.count_tokens(prompt) > budget:
            self._start = max(self._start, len(self.frames) - self.config.keep_frames)
            self._callers = None
            prompt = self.prompt()
            # Fewer than `keep_frames` when those do not fit, with a quarter of the
            # budget to spare: each cut re-encodes the whole window, so cutting
            # only just below the budget would re-encode it at every step. The
            # state goes last: recent frames first, then the outermost callers.
            while self.backend.count_tokens(prompt) > budget * 3 // 4:
                if self._start < len(self.frames) - 1:
                    self._start += 1
                else:
                    callers = len(live_callers(self.frames, self._start))
                    if self._callers is not None:
                        callers = min(callers, self._callers)
                    if callers == 0:
                        break  # the source and one frame: nothing left to cut
                    self._callers = callers - 1
                prompt = self.prompt()
        return prompt

    def _placed(self) -> list[Frame]:
        """Frames with line, function and depth derived as a reader would."""
        resolver = Resolver(self.context)
        return [
            Frame(f.event, *_place(resolver, f), f.locals, f.arg, f.actor)
            if f.event not in ("send", "recv")
            else f
            for f in self.frames
        ]

    def step(self, force: str | None = None, sampling: Sampling | None = None) -> Step:
        """Ask for the next frame; `force` = an event ('line', 'return', ...)
        whose token is put in the model's mouth (step into / over);
        `sampling` overrides the config's for this step (the debugger
        resamples a frame the model got wrong)."""
        prompt = self.next_prompt(force)
        head = T.EVENT_TOKENS[force] if force else ""
        return self.accept(head + self.backend.complete(prompt, sampling or self.config.sampling))

    def next_prompt(self, force: str | None = None) -> str:
        """What `step` asks the backend: the window over the frames so far,
        then `force`'s event token. Apart from `accept`, so that a batch
        (`run_batch`, `eval trace`) can ask for many worlds' frames at once."""
        if self.ended:
            raise RuntimeError("the imagined execution has ended")
        return self._fit_window() + (T.EVENT_TOKENS[force] if force else "")

    def accept(self, reply: str) -> Step:
        """Take the backend's `reply` to `next_prompt()` (with a forced
        event's token put back in front) as the next step."""
        if reply == T.END_OF_TEXT or (not self.frames and reply.endswith(T.END_OF_TEXT)):
            self.ended = True
            step = Step(None, reply)
            self.steps.append(step)
            return step
        step = self._parse(reply)
        self.steps.append(step)
        if step.frame is not None:
            self.frames.append(step.frame)
            f = step.frame  # the entry's return (a concurrent program's nodes have depth 0 too)
            if f.event == "return" and f.depth == 0 and f.actor == self.frames[0].actor:
                self.ended = True
        return step

    def truncate(self, n: int) -> None:
        """Keep the first `n` frames (the debugger's `back`): the execution
        is open again, and the window starts no later than the frames kept."""
        del self.frames[n:]
        self.ended = False
        self._start = min(self._start, max(n - 1, 0))
        self._callers = None
        self._head = None

    def _resolver_after(self, frames: list[Frame]) -> Resolver:
        """A resolver that has placed exactly `frames`. Kept between steps, so
        a rollout places each frame once (not the whole prefix every step);
        rebuilt when the frames were edited (the debugger's back / set)."""
        done = self._placed_upto
        if (
            self._resolver is None
            or len(done) != len(frames)
            or any(
                a is not b
                for a, b in zip(done[-3:], frames[len(frames) - len(done[-3:]) :], strict=True)
            )
        ):
            self._resolver = Resolver(self.context)
            for f in frames:
                _place(self._resolver, f)
            self._placed_upto = list(frames)
        return self._resolver

    def _parse(self, reply: str) -> Step:
        if not reply.endswith(T.FRAME_SEP):
            return Step(None, reply, "the reply does not end with <|frame_sep|>")
        try:
            event, raw, source, arg = parse_frame(reply[: -len(T.FRAME_SEP)])
            resolver = self._resolver_after(self.frames)
            actor, source = split_actor(source, resolver.by_text)  # a concurrent program's
            prev = self.frames[-1] if self.frames else None
            if prev is not None and prev.actor != actor:
                prev = None  # `..` is written within one actor's activation only
            if event == "line" and actor is not None and source in ("<send>", "<recv>"):
                event, locals_ = source[1:-1], dict(raw or {})
                if set(locals_) != {"src", "dst", "msg"}:
                    raise TraceFormatError(f"a {event} frame holds src, dst and msg")
                frame = Frame(event, 0, "", "", 0, locals_, None, actor)
            else:
                locals_ = resolve_locals(raw, prev) if raw is not None else {}
                line, func, depth = resolver.place(event, source, locals_, actor)
                frame = Frame(event, line, source, func, depth, locals_, arg, actor)
            self._placed_upto.append(frame)
            return Step(frame, reply)
        except (TraceFormatError, AssertionError) as exc:
            return Step(None, reply, str(exc).splitlines()[0])

    def trace(self, reason: str = "") -> Trace:
        t = Trace(source=self.context, entry=self.entry, frames=list(self.frames))
        last = self.frames[-1] if self.frames else None
        if self.ended and last is not None and last.event == "return" and last.depth == 0:
            t.status = "returned"
        elif self.ended and last is not None and last.event == "exception":
            t.status = "raised"
        else:
            t.status, t.reason = (
                "truncated",
                reason or "the rollout stopped before the entry returned",
            )
        return t


def _same(a: tuple, b: tuple) -> bool:
    """Two window keys: equal numbers, and the very same frames (an edited
    frame is a new object; holding the old ones keeps their ids unique)."""
    return a[:2] == b[:2] and all(x is y for x, y in zip(a[2:], b[2:], strict=True))


def _place(resolver: Resolver, f: Frame) -> tuple[int, str, int]:
    if f.event in ("send", "recv"):  # at no line: the resolver does not see them
        return f.line, f.func, f.depth
    return resolver.place(f.event, f.source, f.locals, f.actor)


def rollout(
    source: str,
    entry: str | None,
    input: str | None,
    backend: Backend,
    config: RolloutConfig = RolloutConfig(),
) -> tuple[Trace, list[Step]]:
    """Predict the whole execution. `input=None` lets the model invent the
    arguments (it writes the call frame too)."""
    real = real_call_frame(source, entry, input) if input is not None else marked(source, entry)
    if input is None and real.entry == MODULE_ENTRY and real.status != "failed":
        real = real_call_frame(source, entry, "")  # a script: its frame needs no arguments
    if real.status == "failed":
        return real, []
    world = Imagined(real.source, backend, config)
    if input is not None or real.entry == MODULE_ENTRY:
        if not real.frames:
            return Trace(real.source, real.entry, status="failed", reason=real.reason), []
        world.frames.append(real.frames[0])
    else:
        first = world.step(force="call")
        if first.frame is None:
            return world.trace(f"invalid call frame: {first.error}"), world.steps
    return run_on(world)


def complete_batch(backend: Backend, prompts: list[str], sampling: Sampling) -> list[str]:
    """Every prompt's reply, as `backend.complete` gives it: decoded side by
    side where the backend can (`LocalBackend.complete_batch`), as
    concurrent requests to an endpoint, else one after the other (scripted
    fakes answer in the order they are asked)."""
    from opencwm.world.backends import EndpointBackend

    batched = getattr(backend, "complete_batch", None)
    if batched is not None:
        return batched(prompts, sampling)
    if isinstance(backend, EndpointBackend) and len(prompts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(prompts), 16)) as pool:
            return list(pool.map(lambda p: backend.complete(p, sampling), prompts))
    return [backend.complete(p, sampling) for p in prompts]


def run_batch(
    worlds: list[Imagined],
    width: int | None = None,
    on_done: Callable[[int, tuple[Trace, list[Step]]], None] | None = None,
) -> list[tuple[Trace, list[Step]]]:
    """`run_on` for many worlds, `width` of them (default all) in lockstep:
    each round asks one batch for the next frame of every world going; each
    stops on its own terms, exactly as `run_on` stops it, and the next world
    waiting takes its place. The worlds share one backend and sampling.
    `on_done(i, result)` hears of each as it ends."""
    if not worlds:
        return []
    backend, sampling = worlds[0].backend, worlds[0].config.sampling
    assert all(w.backend is backend and w.config.sampling == sampling for w in worlds)
    done: dict[int, tuple[Trace, list[Step]]] = {}
    waiting = iter(range(len(worlds)))
    going: list[int] = []

    def finish(i: int, result: tuple[Trace, list[Step]]) -> None:
        done[i] = result
        going.remove(i)
        if on_done:
            on_done(i, result)

    while True:
        going += islice(waiting, (width or len(worlds)) - len(going))
        for i in list(going):
            w = worlds[i]
            if w.ended or len(w.frames) >= w.config.max_frames:
                reason = "" if w.ended else f"frame limit reached ({w.config.max_frames} frames)"
                finish(i, (w.trace(reason), w.steps))
        if not going:
            if len(done) == len(worlds):
                break
            continue
        replies = complete_batch(backend, [worlds[i].next_prompt() for i in going], sampling)
        for i, reply in zip(list(going), replies, strict=True):
            step = worlds[i].accept(reply)
            if step.frame is None and not worlds[i].ended:
                finish(
                    i,
                    (
                        worlds[i].trace(f"invalid frame from the model: {step.error}"),
                        worlds[i].steps,
                    ),
                )
    return [done[i] for i in range(len(worlds))]


def run_on(world: Imagined) -> tuple[Trace, list[Step]]:
    """Let the model continue `world` until the entry returns or raises, it
    writes a frame that does not parse, or `max_frames` is reached (an
    evaluator starts here from a recorded call frame, without the sandbox)."""
    config = world.config
    while not world.ended and len(world.frames) < config.max_frames:
        step = world.step()
        if step.frame is None and not world.ended:
            return world.trace(f"invalid frame from the model: {step.error}"), world.steps
    reason = "" if world.ended else f"frame limit reached ({config.max_frames} frames)"
    return world.trace(reason), world.steps
