"""Turning traces into training sequences, and the long-trace policy.

A trace that fits the model's window is one sequence: the prompt (source)
then every frame, then `<|end_of_text|>`. A longer one is cut into windows
that each repeat the prompt and continue with the next frames.

Long traces (`window_frames`, the one policy training and the rollout
share). A window that starts at frame `i > 0` must not lose the state:
after the prompt it writes the latest call or line frame of each
activation live under frame `i`'s (its callers, outermost first: their
locals, and the line each is waiting on), then frame `i` itself, all with
full locals (no `".."`), then frames `i+1, ...` as diffs. So every window
reads on its own, and after a callee returns its caller's state is known
even when the caller's own frames fell out long ago. In a concurrent trace
(format version 2) each actor has its own stack, and the head restates
every actor's live activations, each with its `[ACTOR] ` prefix, the other
actors' before frame `i`'s callers (`live_callers`). When the callers do
not fit, the outermost are dropped first (deep recursion; the other
actors' before frame `i`'s own). The callers'
frames are given, like the source: no loss on them unless `loss_on_all`.
The rollout (`world/rollout.py`) writes its prompt with the same function
when an execution outgrows the model's window.

Narrated rows (a corpus whose manifest says `"format": "nl"`,
`data/narrate.py`; the trainer tags each row with its corpus's format)
are windowed by the same policy from their own text: frame k's target is
the row's k-th sentence, and a later window's head is `window_frames`'
head stated in full in English (`Narrator.state`, `trace/nl.py`), so it
reads on its own with a `StepReader`. Such a window also ends before a
frame that returns into a caller it left out for room.

A row's windows depend on that row alone, so `Windower` can make them in
several processes and keep the row order: packing them afterwards gives
the same rows, byte for byte, as one process would.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text, split_context
from opencwm.trace.frame import MESSAGE_EVENTS, Frame
from opencwm.trace.nl import Narrator

ENCODE_CHUNK = 64
"""Frames encoded per batch call as windows fill."""
ROWS_PER_TASK = 64
"""Rows a worker process windows per task."""
FORMATS = ("cwm", "nl")
"""What a corpus's `cwm` column holds after the prompt: CWM text, or
narration (`data/narrate.py`); its manifest's `format`, `cwm` if absent."""
CWM_STARTS = (*T.EVENT_TOKENS.values(), T.LINE_SEP, T.END_OF_TEXT)
"""How CWM text goes on after its prompt: a frame (a message frame with its
`LINE_SEP`), or the end of a run whose frames were cut away (a corpus
staged for a GPU slot, `model/stage.py`, keeps only the prompt and the end)."""


@dataclass
class Sequence:
    ids: list[int]
    mask: list[int]  # 1 where the token is a training target


def corpus_format(data) -> str:
    """The `format` a built corpus's manifest states (`cwm` when it says none)."""
    manifest = Path(data) / "manifest.json"
    fmt = json.loads(manifest.read_text()).get("format", "cwm") if manifest.exists() else "cwm"
    if fmt not in FORMATS:
        raise ValueError(f"{data}: unknown corpus format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def frames_of(row: dict) -> list[Frame]:
    return [Frame.from_dict(d) for d in json.loads(row["frames"])]


def live_callers(frames: Seq[Frame], start: int) -> list[Frame]:
    """The latest call or line frame of each activation live under the one
    of `frames[start]` (its callers), outermost first: the state a window
    starting at `start` carries besides that frame. A return ends its
    activation; an exception may be caught, so it only ends the deeper ones.

    In a concurrent trace each actor has a stack of its own (`depth` counts
    within the actor) and a message frame belongs to no activation. There
    the state is every actor's: first the activations live in each other
    actor (in the order the actors first appear, each outermost first: a
    node waiting on its handler's call, the entry waiting on the network),
    then frame `start`'s callers (all of its actor's, for a message frame).
    So what is dropped for room goes from the other actors first."""
    stacks: dict[str | None, list[Frame | None]] = {}
    for f in frames[:start]:
        if f.event in MESSAGE_EVENTS:
            continue
        stack, d = stacks.setdefault(f.actor, []), f.depth
        if f.event in ("call", "line"):
            del stack[d:]
            stack += [None] * (d - len(stack)) + [f]
        elif f.event == "return":
            del stack[d:]
        else:
            del stack[d + 1 :]
    if start < len(frames):
        first = frames[start]
        mine = stacks.pop(first.actor, [])
        if first.event not in MESSAGE_EVENTS:
            mine = mine[: first.depth]
        stacks[first.actor] = mine  # last
    return [f for stack in stacks.values() for f in stack if f is not None]


def window_frames(
    frames: Seq[Frame], start: int, end: int, callers: int | None = None
) -> list[tuple[Frame, Frame | None]]:
    """What a window holding `frames[start:end]` writes after the prompt, as
    `(frame, previous)` pairs for `frame_text`: the innermost `callers` (all
    by default) of `live_callers` and `frames[start]` in full, then the rest
    as diffs against the frame before. At `start == 0` this is the trace's
    own text."""
    head = live_callers(frames, start) if start else []
    if callers is not None:
        head = head[len(head) - callers :] if callers > 0 else []
    out: list[tuple[Frame, Frame | None]] = [(f, None) for f in head]
    if start < end:
        out.append((frames[start], None))
    out += [(frames[i], frames[i - 1]) for i in range(start + 1, end)]
    return out


def fit_callers(sizes: Seq[int], room: int) -> int:
    """How many of the innermost callers (token `sizes`, outermost first)
    fit in `room` tokens."""
    used, kept = 0, 0
    for size in reversed(sizes):
        if used + size > room:
            break
        used, kept = used + size, kept + 1
    return kept


def row_windows(
    row: dict, tokenizer, block: int, loss_on_all: bool = False, max_windows: int | None = None
) -> list[Sequence]:
    """Training windows of one corpus row, each at most `block` tokens; the
    first `max_windows` only, if given (frames are encoded as the windows
    need them, so a capped long trace costs what its windows hold). A row
    whose `format` is `nl` (a narrated corpus's, tagged by the trainer) is
    windowed from its own sentences (`narrated_texts`), any other from its
    `frames` in CWM text."""
    text = row["cwm"]
    if not text.startswith(T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START):
        return text_windows(text, tokenizer, block, max_windows)
    context, rest = split_context(text)
    frames = frames_of(row)
    fmt = row.get("format", "cwm")
    if fmt == "nl":
        texts, head_texts = narrated_texts(rest, frames)
    elif fmt == "cwm":
        if rest and not rest.startswith(CWM_STARTS):
            raise ValueError(
                f"a row's text is not CWM text after its prompt ({rest[:40]!r}): "
                'a narrated corpus? its manifest must say "format": "nl"'
            )

        def texts(lo: int, hi: int) -> list[str]:
            return [frame_text(frames[k], frames[k - 1] if k else None) for k in range(lo, hi)]

        def head_texts(i: int, callers: int | None = None) -> list[str]:
            return [frame_text(f, prev) for f, prev in window_frames(frames, i, i + 1, callers)]
    else:
        raise ValueError(f"unknown corpus format {fmt!r}; known: {', '.join(FORMATS)}")
    return _windows(
        prompt_text(context),
        texts,
        head_texts,
        frames,
        text.endswith(T.END_OF_TEXT),
        tokenizer,
        block,
        loss_on_all,
        max_windows,
        floor=fmt == "nl",
    )


def narrated_texts(
    rest: str, frames: Seq[Frame]
) -> tuple[Callable[[int, int], list[str]], Callable[..., list[str]]]:
    """A narrated row's frame texts (`texts(lo, hi)`: its sentences, each
    closed by `<|frame_sep|>`) and the head of a window starting at frame `i`: the
    frames of `window_frames`' head stated in full by a fresh `Narrator`
    (a line frame as a state sentence, `trace/nl.py`; a call frame's
    sentence lists every local already). Each names its depth, so the
    window reads on its own with a `StepReader`."""
    body = rest[: -len(T.END_OF_TEXT)] if rest.endswith(T.END_OF_TEXT) else rest
    sentences = body.split(T.FRAME_SEP)[:-1] if body else []
    if len(sentences) != len(frames):
        raise ValueError(f"a narrated row has {len(sentences)} sentences for {len(frames)} frames")

    def head_texts(i: int, callers: int | None = None) -> list[str]:
        return [s + T.FRAME_SEP for s in narrated_head(frames, i, callers)]

    return lambda lo, hi: [s + T.FRAME_SEP for s in sentences[lo:hi]], head_texts


def narrated_head(frames: Seq[Frame], start: int, callers: int | None = None) -> list[str]:
    """The sentences a narrated window starting at `start > 0` opens with:
    `window_frames`' head, a line frame as a state sentence, any other as
    a fresh `Narrator` writes it (a call lists every local; each names its
    depth where no stack rule gives it)."""
    narrator = Narrator()
    return [
        narrator.state(f) if f.event == "line" else narrator.sentence(f)
        for f, _ in window_frames(frames, start, start + 1, callers)
    ]


def _windows(
    prompt_str: str,
    texts: Callable[[int, int], list[str]],
    head_texts: Callable[..., list[str]],
    frames: Seq[Frame],
    ended: bool,
    tokenizer,
    block: int,
    loss_on_all: bool,
    max_windows: int | None,
    floor: bool,
) -> list[Sequence]:
    """The windows of one trace (see the module docstring): `texts(lo, hi)` are
    frames lo..hi-1's texts, `head_texts(i, callers)` what a window starting at `i`
    writes for its callers and frame `i`. With `floor`, a window ends
    before a frame shallower than every frame its head states (a return
    into a caller left out for room): narration states changes against the
    caller's state, which that window does not hold."""
    enc = tokenizer.backend_tokenizer
    prompt = enc.encode(prompt_str, add_special_tokens=False).ids
    if len(prompt) + 2 > block:
        return []
    rest: list[list[int]] = []

    def frame_ids(i: int) -> list[int]:
        while len(rest) <= i:
            todo = texts(len(rest), min(len(rest) + ENCODE_CHUNK, len(frames)))
            rest.extend(e.ids for e in enc.encode_batch(todo, add_special_tokens=False))
        return rest[i]

    eos = tokenizer.convert_tokens_to_ids(T.END_OF_TEXT)
    out: list[Sequence] = []
    i = 0
    while i < len(frames) and len(out) != max_windows:
        ids, mask = list(prompt), [int(loss_on_all)] * len(prompt)
        lowest = {frames[i].actor: frames[i].depth}
        if out:  # a later window: its callers' state, then frame i, all in full
            encoded = enc.encode_batch(head_texts(i), add_special_tokens=False)
            *head, first = (e.ids for e in encoded)
            # as much of the state as the rollout keeps: 3/4 of the window (world/rollout.py)
            kept = fit_callers([len(h) for h in head], block * 3 // 4 - len(ids) - len(first))
            if floor and kept < len(head):  # the outermost callers' sentences name their depth
                encoded = enc.encode_batch(head_texts(i, kept), add_special_tokens=False)
                *head, first = (e.ids for e in encoded)
            if floor:
                callers = live_callers(frames, i)
                lowest = _floors(callers, len(callers) - kept, frames[i])
            for h in head[len(head) - kept :]:
                ids += h
                mask += [int(loss_on_all)] * len(h)
        else:
            first = frame_ids(i)
        if len(ids) + len(first) > block:
            i += 1  # a single frame longer than the window: skipped
            continue
        ids += first
        mask += [1] * len(first)
        i += 1
        while i < len(frames) and len(ids) + len(frame_ids(i)) <= block:
            f = frames[i]
            if floor and f.event not in MESSAGE_EVENTS and f.depth < lowest.get(f.actor, 0):
                break
            ids += frame_ids(i)
            mask += [1] * len(frame_ids(i))
            i += 1
        if i == len(frames) and ended and len(ids) < block:
            ids.append(eos)
            mask.append(1)
        out.append(Sequence(ids, mask))
    return out


def _floors(callers: Seq[Frame], dropped: int, first: Frame) -> dict[str | None, int]:
    """Per actor, the shallowest depth a narrated window's frames may reach:
    its outermost activation the head states (the first `dropped` of
    `callers` left out), or, where all of an actor's were left out, just
    below them."""
    low = {} if first.event in MESSAGE_EVENTS else {first.actor: first.depth}
    for f in callers[:dropped]:
        low[f.actor] = max(low.get(f.actor, 0), f.depth + 1)
    for f in callers[dropped:]:
        low[f.actor] = min(low.get(f.actor, f.depth), f.depth)
    return low


def text_windows(
    text: str, tokenizer, block: int, max_windows: int | None = None
) -> list[Sequence]:
    """A plain-text row (a code corpus, data/code_corpus.py: `<|begin_of_text|>`
    and code, no context, no frames) cut into windows of `block` tokens. Every
    token is a target, whatever `loss_on_all` says: nothing in it is given;
    but a window's first token, which packing puts after an unrelated one."""
    ids = tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids
    cuts = range(0, len(ids), block)[:max_windows]
    return [Sequence(ids[i : i + block], [0] + [1] * (len(ids[i : i + block]) - 1)) for i in cuts]


class Windower:
    """Every row's windows, in row order: made here, or by `workers`
    processes when there is more than one task's worth of rows. The
    processes start once, at the first such call, and each loads the
    tokenizer alone (not transformers). `advance(n)` hears of every `n`
    rows done."""

    def __init__(
        self,
        tokenizer,
        block: int,
        loss_on_all: bool = False,
        max_windows: int | None = None,
        workers: int = 1,
        advance: Callable[[int], None] | None = None,
    ) -> None:
        self.tokenizer, self.workers = tokenizer, workers
        self.args = (block, loss_on_all, max_windows)
        self.advance = advance or (lambda n: None)
        self.pool = None

    def __call__(self, rows: Seq[dict]) -> list[Sequence]:
        out: list[Sequence] = []
        if self.workers <= 1 or len(rows) <= ROWS_PER_TASK:
            for start in range(0, len(rows), ROWS_PER_TASK):
                task = rows[start : start + ROWS_PER_TASK]
                out += [w for row in task for w in row_windows(row, self.tokenizer, *self.args)]
                self.advance(len(task))
            return out
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.tokenizer.backend_tokenizer.to_str(),),
            )
        # what row_windows reads
        slim = [
            {"cwm": r["cwm"], "frames": r["frames"], "format": r.get("format", "cwm")} for r in rows
        ]
        tasks = [slim[i : i + ROWS_PER_TASK] for i in range(0, len(slim), ROWS_PER_TASK)]
        for task, part in zip(
            tasks, self.pool.map(_task, tasks, itertools.repeat(self.args)), strict=True
        ):
            out += part
            self.advance(len(task))
        return out

    def __enter__(self) -> Windower:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class _Encoder:
    """What `row_windows` uses of a tokenizer, from its `tokenizer.json` text."""

    def __init__(self, text: str) -> None:
        from tokenizers import Tokenizer

        self.backend_tokenizer = Tokenizer.from_str(text)

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.backend_tokenizer.token_to_id(token)


_encoder: _Encoder | None = None


def _start_worker(text: str) -> None:
    global _encoder
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the processes are the parallelism
    _encoder = _Encoder(text)


def _task(rows: list[dict], args: tuple) -> list[Sequence]:
    return [w for row in rows for w in row_windows(row, _encoder, *args)]


def pack(seqs: list[Sequence], block: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole sequences packed greedily into rows of `block + 1` tokens (inputs
    and shifted targets), padding masked out; no sequence is split."""
    rows: list[tuple[list[int], list[int]]] = []
    ids: list[int] = []
    mask: list[int] = []
    for s in seqs:
        if len(ids) + len(s.ids) > block + 1:
            rows.append((ids, mask))
            ids, mask = [], []
        ids = ids + s.ids
        mask = mask + s.mask
    if ids:
        rows.append((ids, mask))
    out_ids = np.full((len(rows), block + 1), pad, dtype=np.int32)
    out_mask = np.zeros((len(rows), block + 1), dtype=np.uint8)
    for r, (i, m) in enumerate(rows):
        out_ids[r, : len(i)] = i
        out_mask[r, : len(m)] = m
    return out_ids, out_mask
