"""The world model trains on `distributed:` corpora like on any other: the
trainer's windows (`model/windows.py`) of a real `distributed:` build read
back to the true frames, actors and send / recv frames included, and
`opencwm train` runs on such a corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from opencwm.data.pipeline import BuildConfig, build, iter_rows
from opencwm.data.work import WorkConfig
from opencwm.model.windows import (
    Windower,
    frames_of,
    live_callers,
    row_windows,
    window_frames,
)
from opencwm.trace import tokens as T
from opencwm.trace.cwm import (
    frame_text,
    from_cwm,
    parse_frame,
    prompt_text,
    resolve_locals,
    split_actor,
    split_context,
)
from opencwm.trace.frame import MESSAGE_EVENTS, Frame
from opencwm.trace.resolve import Resolver
from opencwm.tracer.api import TraceConfig

TINY = Path(__file__).parents[2] / "models" / "cwm-tiny"
BLOCK = 6144
"""Tokens per window: a `distributed:` program alone is ~1,100-1,500 tokens
of the bundled tokenizer and its run 4,000-15,000 more, so the shorter runs
fit in one window and the longer take several, with room for the callers'
state (3/4 of the window, `_windows`)."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """distributed:6 (five protocols, two to five nodes), all in train, with
    val a copy of train so that `opencwm train` has something to validate on."""
    out = tmp_path_factory.mktemp("dist") / "corpus"
    work = WorkConfig(TraceConfig(timeout_s=10, max_frames=2000), check_determinism=False)
    build(
        BuildConfig(
            source="distributed:6",
            out=out,
            workers=1,
            val_fraction=0.0,
            test_fraction=0.0,
            work=work,
        )
    )
    for shard in out.glob("train-*.parquet"):
        (out / shard.name.replace("train", "val")).write_bytes(shard.read_bytes())
    return out


@pytest.fixture(scope="module")
def rows(corpus) -> list[dict]:
    rows = list(iter_rows(corpus, "train"))
    assert len(rows) == 6 and all(r["source"] == "distributed" for r in rows)
    return rows


@pytest.fixture(scope="module")
def tokenizer():
    from opencwm.model.tokenizer import load_tokenizer

    return load_tokenizer(TINY)


def read_back(text: str, context: str) -> list[tuple]:
    """What a reader of a window's frames recovers on their own: each
    frame's event, actor, line text, locals (`".."` against the frame
    before in the text) and value; a message frame as `from_cwm` reads it."""
    lines = Resolver(context).by_text
    out, prev = [], None
    for piece in text.split(T.FRAME_SEP)[:-1]:
        event, raw, source, arg = parse_frame(piece)
        actor, source = split_actor(source, lines)
        if event == "line" and actor is not None and source in ("<send>", "<recv>"):
            event, source = source[1:-1], ""
        locals_ = resolve_locals(raw, prev) if raw is not None else {}
        prev = Frame(event, 0, source, "", 0, locals_, arg, actor)
        out.append((event, actor, source, locals_, arg))
    return out


def seen(f: Frame) -> tuple:
    return (f.event, f.actor, f.source, f.locals, f.arg)


def callers_of(frames: list[Frame], i: int) -> list[Frame]:
    """Independently: the state a window starting at frame i restates. For
    each actor that ran before frame i (frame i's own last, the others in
    the order they first ran), for each depth below the top of its stack
    (frame i's depth for frame i's actor; else one past the depth of the
    actor's last frame, that depth itself after a return), its latest
    call/line frame at that depth, searched backwards. Message frames
    belong to no activation."""
    actors = [
        a for a in dict.fromkeys(f.actor for f in frames[:i] if f.event not in MESSAGE_EVENTS)
    ]
    actors = [a for a in actors if a != frames[i].actor] + [frames[i].actor]
    out = []
    for actor in actors:
        mine = [
            (j, f)
            for j, f in enumerate(frames[:i])
            if f.actor == actor and f.event not in MESSAGE_EVENTS
        ]
        if actor == frames[i].actor and frames[i].event not in MESSAGE_EVENTS:
            top = frames[i].depth
        elif mine:
            last = mine[-1][1]
            top = last.depth + (last.event != "return")
        else:
            top = 0
        for d in range(top):
            k = max(j for j, f in mine if f.depth == d and f.event in ("call", "line"))
            assert all(f.depth > d for j, f in mine if j > k)  # still live: never left
            out.append(frames[k])
    return out


def placed(frames: list[Frame], context: str) -> list[Frame]:
    """`frames` with the line of a frame whose line text the program has on
    several lines (`def done(self):` in two classes) set to the first of
    them: CWM text names a line by its text, so `from_cwm` may not tell
    those apart (on the row's own text as much as on a window's)."""
    lines = Resolver(context).by_text
    return [
        Frame(**{**f.to_dict(), "line": lines[f.source][0]})
        if f.event not in ("send", "recv") and len(lines.get(f.source, [])) > 1
        else f
        for f in frames
    ]


def test_a_runs_first_window_decodes_to_its_exact_frames(rows, tokenizer):
    """The first window of every run decodes (`from_cwm`: lines, functions
    and depths from the resolver) to exactly the true frames it holds,
    actors and messages included, but for the line number of a line text
    the program repeats (`placed`); a run that fits is one window, the
    row's own text, `<|end_of_text|>` and all."""
    whole = repeated = 0
    for row in rows:
        frames = frames_of(row)
        context = split_context(row["cwm"])[0]
        first = row_windows(row, tokenizer, BLOCK)[0]
        text = tokenizer.decode(first.ids)
        got = from_cwm(text).frames
        assert len(got) > 10, row["id"]
        assert placed(got, context) == placed(frames[: len(got)], context), row["id"]
        repeated += got != frames[: len(got)]
        if len(got) == len(frames):
            assert text == row["cwm"]
            whole += 1
    assert 0 < whole < len(rows)  # some runs fit, some need more windows
    assert repeated < len(rows)


def test_every_window_reads_back_to_the_true_frames_with_each_actors_state(rows, tokenizer):
    """Every window of every run (made by the trainer's `Windower`): the
    prompt, then, given, in full, the activations live in the other actors
    (the entry waiting on the network, a node inside its handler) and the
    callers of its first frame, then the next frames of the run as targets; together the targets
    are every frame of the run once, in order, each read back to its event,
    actor, line, locals and value, messages with their src, dst and msg."""
    enc = tokenizer.backend_tokenizer
    with Windower(tokenizer, BLOCK) as windower:
        windows = windower(rows)
    assert windows == [w for row in rows for w in row_windows(row, tokenizer, BLOCK)]
    k, later, with_state, with_others = 0, 0, 0, 0
    for row in rows:
        frames = frames_of(row)
        context = split_context(row["cwm"])[0]
        prompt = tokenizer.decode(enc.encode(prompt_text(context), add_special_tokens=False).ids)
        i = 0
        while i < len(frames):
            w = windows[k]
            k += 1
            assert len(w.ids) <= BLOCK
            given = tokenizer.decode([t for t, m in zip(w.ids, w.mask, strict=True) if not m])
            target = tokenizer.decode([t for t, m in zip(w.ids, w.mask, strict=True) if m])
            assert given.startswith(prompt)
            head = read_back(given[len(prompt) :], context)
            assert head == [seen(f) for f in callers_of(frames, i)], (row["id"], i)
            body = read_back(target.removesuffix(T.END_OF_TEXT), context)
            assert body == [seen(f) for f in frames[i : i + len(body)]], (row["id"], i)
            assert body, f"{row['id']}: a window at frame {i} holds no frame"
            later += i > 0
            with_state += bool(head)
            with_others += any(actor != frames[i].actor for _, actor, *_ in head)
            i += len(body)
        assert target.endswith(T.END_OF_TEXT)
    assert k == len(windows) and later >= 3 and with_state >= 1 and with_others >= 1
    kinds = {e for row in rows for e, *_ in read_back(row_text(row), "")}
    assert {"send", "recv", "call", "line", "return"} <= kinds


def row_text(row: dict) -> str:
    return row["cwm"].split(T.FRAME_SEP, 1)[1].removesuffix(T.END_OF_TEXT)


CASES = ["send in a nested call", "another actor in between", "another actor's handler ended"]


@pytest.mark.parametrize("case", CASES)
def test_live_callers_keep_each_actors_stack(case):
    """A window starting inside a nested call of one node keeps that node's
    callers, whatever messages or other nodes' frames came in between, and
    before them the activations still live in other actors; a window that
    starts at a message restates its actor's whole stack. All in full,
    each with its actor's prefix."""
    me = {"self": "A()"}
    a = [
        Frame("call", 1, "def on_start(self):", "on_start", 0, me, None, "a"),
        Frame("line", 2, "self.campaign()", "on_start", 0, me, None, "a"),
        Frame("call", 4, "def campaign(self):", "campaign", 1, me, None, "a"),
        Frame("line", 5, "self.ask('b')", "campaign", 1, me, None, "a"),
        Frame("call", 7, "def ask(self, p):", "ask", 2, {**me, "p": "'b'"}, None, "a"),
        Frame("line", 8, "self.send(p, 'vote')", "ask", 2, {**me, "p": "'b'"}, None, "a"),
    ]
    b = Frame("call", 11, "def on_vote(self):", "on_vote", 0, me, None, "b")
    if case == "send in a nested call":
        msg = {"src": "'a'", "dst": "'b'", "msg": "'vote'"}
        between = [Frame("send", 0, "", "", 0, msg, None, "a")]
        others = []
    elif case == "another actor in between":
        between, others = [b], [b]
    else:
        between = [b, Frame("return", 12, "return 1", "on_vote", 0, {}, "1", "b")]
        others = []
    nxt = Frame("line", 9, "return 1", "ask", 2, {**me, "p": "'b'"}, None, "a")
    frames = [*a, *between, nxt]
    assert callers_of(frames, len(frames) - 1) == [*others, a[1], a[3]]
    assert live_callers(frames, len(frames) - 1) == [*others, a[1], a[3]]
    pairs = window_frames(frames, len(frames) - 1, len(frames))
    assert [f for f, _ in pairs] == [*others, a[1], a[3], nxt]
    text = "".join(frame_text(f, prev) for f, prev in pairs)
    assert T.UNCHANGED not in text and text.count("<|action_sep|>[a] ") == 3
    if case == "send in a nested call":  # a window starting at the message
        assert live_callers(frames, len(a)) == [a[1], a[3], a[5]]


def test_a_single_actor_trace_has_the_same_callers_as_before():
    """Frames without actors: one stack, exactly `live_callers`' old walk."""
    f = [
        Frame("call", 1, "def f(x):", "f", 0, {"x": "1"}),
        Frame("line", 2, "g(x)", "f", 0, {"x": "1"}),
        Frame("call", 4, "def g(y):", "g", 1, {"y": "1"}),
        Frame("exception", 5, "h(y)", "g", 1, {}, "E()"),
        Frame("line", 6, "pass", "g", 1, {"y": "1"}),
    ]
    assert live_callers(f, 4) == [f[1]] and live_callers(f, 5) == [f[1], f[4]]


def test_opencwm_train_runs_on_a_distributed_corpus(corpus, tmp_path):
    """`opencwm train --preset micro` on the corpus: it trains its own
    tokenizer, packs windows holding actors' frames and messages, and takes
    its steps."""
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "opencwm", "train", "--data", str(corpus), "--out", str(out)]
    r = subprocess.run(
        [*cmd, "--preset", "micro", "--steps", "2"], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2] and "val_loss" in history[-1]
    from opencwm.model.tokenizer import load_tokenizer

    packed = np.load(out / "packed.npz")
    text = load_tokenizer(out).decode(packed["train_ids"].ravel().tolist())
    assert "] <send>" in text and "] <recv>" in text
