"""Narrated corpora: the same traces, with plain English as the model's target.

`opencwm data narrate --data IN --out OUT` copies a corpus and replaces each
row's `cwm` text by its narration in the sequence layout a world model
reads: the prompt is unchanged (`<|begin_of_text|><|trace_context_start|>`,
the program, `<|frame_sep|>`), and where CWM text has a frame there is one
sentence of `trace/nl.py`'s grammar (`Line 7: `total` becomes `6` (was `0`).`),
closed by `<|frame_sep|>`; `<|end_of_text|>` follows when the run ended.
The heading and ending sentences of `to_nl` are left out: the entry is
marked in the program, the input is in the call sentence, and the end
token says the run ended. Every other column stays as it was (`frames`
still holds the recorded frames, which is what evaluators compare with),
and the manifest says `"format": "nl"`.

Training on it. The trainer renders its windows from the `frames` column
(`model/windows.py`), so it would train a narrated corpus on CWM text.
Until it can read the targets from the `cwm` column, `pack_narrated`
fills the trainer's cache beside the checkpoint (`tokenizer.json`,
`packed.npz`, `decontam.json`) with windows cut from the narration, by
the trainer's own rules (same decontamination, same packing), and marks
the directory with `narration.json`; `opencwm train --out` the same
directory then trains on narration, and `predict` / `eval nl` know the
model narrates. A limit: a later window of a long trace starts with the
sentence as the full narration has it (changes stated against a state
the window no longer shows); CWM text re-writes that frame in full.

A narrating model is asked for one sentence at a time (`narrate_rollout`);
each is parsed back with `StepReader` into the frame it states, so it can
be compared with the real run. A sentence that does not parse ends the
rollout and is kept, raw, with a one-line error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from opencwm.trace import tokens as T
from opencwm.trace.cwm import entry_of, prompt_text, split_context
from opencwm.trace.frame import Frame, Trace
from opencwm.trace.nl import Narrator, NlFormatError, StepReader, frame_of, program_lines
from opencwm.world.backends import Backend, Sampling
from opencwm.world.rollout import RolloutConfig, real_call_frame

FORMAT = "nl"
MARKER = "narration.json"
"""Written into a model directory whose training data was narration."""


class NarrateError(ValueError):
    """A corpus or model that cannot be narrated or packed; one line."""


# -- the text ------------------------------------------------------------------
def narrated_text(context: str, frames: list[Frame], ended: bool) -> str:
    """A run as a narrating model reads and writes it (see the module docstring)."""
    narrator = Narrator()
    out = [prompt_text(context)]
    out += [narrator.sentence(f) + T.FRAME_SEP for f in frames]
    if ended:
        out.append(T.END_OF_TEXT)
    return "".join(out)


def split_narration(text: str) -> tuple[str, list[str], bool]:
    """(context, sentences, whether the run ended) of a narrated text."""
    context, rest = split_context(text)
    ended = rest.endswith(T.END_OF_TEXT)
    if ended:
        rest = rest[: -len(T.END_OF_TEXT)]
    if rest and not rest.endswith(T.FRAME_SEP):
        raise NlFormatError("the last sentence is not closed by <|frame_sep|>")
    return context, rest.split(T.FRAME_SEP)[:-1] if rest else [], ended


def read_narration(text: str) -> Trace:
    """The trace a narrated text tells of; `NlFormatError` names the sentence."""
    context, sentences, ended = split_narration(text)
    reader, lines = StepReader(), program_lines(context)
    trace = Trace(source=context, entry=entry_of(context))
    for i, sentence in enumerate(sentences):
        try:
            trace.frames.append(frame_of(reader.read(sentence), lines))
        except NlFormatError as exc:
            raise NlFormatError(f"sentence {i + 1}: {exc}") from None
    last = trace.frames[-1] if trace.frames else None
    if not ended:
        trace.status, trace.reason = "truncated", "text ends before <|end_of_text|>"
    else:
        trace.status = "raised" if last is not None and last.event == "exception" else "returned"
    return trace


def narrate_row(row: dict) -> dict:
    """The row with its `cwm` text narrated; every other column unchanged."""
    context, _ = split_context(row["cwm"])
    frames = [Frame.from_dict(d) for d in json.loads(row["frames"])]
    return {**row, "cwm": narrated_text(context, frames, row["cwm"].endswith(T.END_OF_TEXT))}


# -- the corpus ------------------------------------------------------------------
def corpus_format(data: Path) -> str:
    """`nl` for a narrated corpus, `cwm` for any other built corpus."""
    manifest = Path(data) / "manifest.json"
    if not manifest.exists():
        raise NarrateError(f"{data} is not a built corpus (no manifest.json)")
    return json.loads(manifest.read_text()).get("format", "cwm")


def narrate_corpus(data: Path, out: Path) -> dict:
    """Copy corpus `data` to `out` with every row narrated; returns the manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data, out = Path(data), Path(out)
    if corpus_format(data) == FORMAT:
        raise NarrateError(f"{data} is already narrated")
    if out.resolve() == data.resolve():
        raise NarrateError("--out must be another directory than --data")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*-of-*.parquet"):
        stale.unlink()
    for path in sorted(data.glob("*-of-*.parquet")):
        table = pq.read_table(path)
        texts = [narrate_row(r)["cwm"] for r in table.select(["cwm", "frames"]).to_pylist()]
        column = table.schema.get_field_index("cwm")
        table = table.set_column(column, "cwm", pa.array(texts, pa.string()))
        tmp = out / f".{path.name}.tmp{os.getpid()}"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, out / path.name)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest.update(format=FORMAT, narrated_from=str(data))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


# -- training windows ------------------------------------------------------------
def narrated_windows(
    row: dict, tokenizer, block: int, loss_on_all: bool = False, max_windows: int | None = None
):
    """`windows.row_windows` for a narrated row: the prompt, then as many
    sentences as fit, each window repeating the prompt; loss on sentences."""
    from opencwm.model.windows import Sequence

    context, sentences, ended = split_narration(row["cwm"])
    enc = tokenizer.backend_tokenizer
    prompt = enc.encode(prompt_text(context), add_special_tokens=False).ids
    if len(prompt) + 2 > block:
        return []
    texts = [s + T.FRAME_SEP for s in sentences]
    parts = [e.ids for e in enc.encode_batch(texts, add_special_tokens=False)] if texts else []
    eos = tokenizer.convert_tokens_to_ids(T.END_OF_TEXT)
    out: list[Sequence] = []
    i = 0
    while i < len(parts) and len(out) != max_windows:
        ids, mask = list(prompt), [int(loss_on_all)] * len(prompt)
        if len(ids) + len(parts[i]) > block:
            i += 1  # one sentence longer than the window: skipped
            continue
        while i < len(parts) and len(ids) + len(parts[i]) <= block:
            ids += parts[i]
            mask += [1] * len(parts[i])
            i += 1
        if i == len(parts) and ended and len(ids) < block:
            ids.append(eos)
            mask.append(1)
        out.append(Sequence(ids, mask))
    return out


def pack_narrated(c, log=print) -> Path:
    """Fill the trainer's cache in `c.out` (a `TrainConfig`) with windows of
    narration, so that `opencwm train` with the same settings trains on it."""
    import numpy as np

    from opencwm.data.decontam import Decontam, held_out_programs
    from opencwm.model.tokenizer import PAD, load_tokenizer, train_tokenizer
    from opencwm.model.train import corpora, corpus_rows
    from opencwm.model.windows import pack

    for data in corpora(c):
        if corpus_format(data) != FORMAT:
            raise NarrateError(f"{data} is not narrated; run `opencwm data narrate` first")
    out = Path(c.out)
    if (out / "packed.npz").exists():
        raise NarrateError(f"{out} already holds packed data; use a new model directory")
    out.mkdir(parents=True, exist_ok=True)
    test = held_out_programs(corpora(c))
    clean = Decontam(test)
    if (out / "tokenizer.json").exists():
        tokenizer = load_tokenizer(out)
    else:
        texts = [r["cwm"] for r in corpus_rows(c, "train", 20_000, Decontam(test))]
        tokenizer = train_tokenizer(texts, c.vocab_size)
        tokenizer.save_pretrained(out)
    pad = tokenizer.convert_tokens_to_ids(PAD)
    arrays = {}
    for split in ("train", "val"):
        rows = corpus_rows(c, split, clean=clean if split == "train" else None)
        seqs = [
            w
            for r in rows
            for w in narrated_windows(r, tokenizer, c.block + 1, c.loss_on_all, c.max_windows)
        ]
        if not seqs:
            raise NarrateError(f"no {split} windows in {', '.join(map(str, corpora(c)))}")
        ids, mask = pack(seqs, c.block, pad)
        if split == "val" and len(corpora(c)) > 1:  # as the trainer: val rows from every corpus
            order = np.random.default_rng(c.seed).permutation(len(ids))
            ids, mask = ids[order], mask[order]
        arrays.update({f"{split}_ids": ids, f"{split}_mask": mask})
        log(f"{split}: {len(rows)} traces, {len(seqs)} windows, {len(ids)} packed rows")
    (out / "decontam.json").write_text(json.dumps(clean.report(), indent=2) + "\n")
    np.savez(out / "packed.npz", **arrays)
    marker = {"format": FORMAT, "block": c.block, "data": [str(d) for d in corpora(c)]}
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return out


def narrates(model_dir: Path | str | None) -> bool:
    """Whether a model directory was trained on narration (`pack_narrated`'s marker)."""
    return model_dir is not None and (Path(model_dir) / MARKER).exists()


# -- a narrating model's rollout ---------------------------------------------------
@dataclass
class Told:
    """One reply of a narrating model: the frame its sentence states, or
    the raw reply and why it does not parse."""

    reply: str
    frame: Frame | None
    error: str = ""


def window(context: str, sentences: list[str], backend: Backend, sampling: Sampling) -> str:
    """The prompt: the program and the latest sentences that fit (at least one)."""
    head, budget = prompt_text(context), backend.context_tokens - sampling.max_tokens
    start = 0
    while True:
        prompt = head + "".join(s + T.FRAME_SEP for s in sentences[start:])
        if start >= len(sentences) - 1 or backend.count_tokens(prompt) <= budget:
            return prompt
        start += max(1, (len(sentences) - start) // 4)  # cut a quarter: fewer re-encodings
        start = min(start, len(sentences) - 1)


def read_reply(reply: str, reader: StepReader, lines: list[str]) -> Told:
    """A reply parsed against `reader` (advanced only if it parses)."""
    if not reply.endswith(T.FRAME_SEP):
        return Told(reply, None, "the reply does not end with <|frame_sep|>")
    try:
        return Told(reply, frame_of(reader.read(reply[: -len(T.FRAME_SEP)]), lines))
    except NlFormatError as exc:
        return Told(reply, None, str(exc).splitlines()[0])


def narrate_rollout(
    source: str, entry: str | None, input: str, backend: Backend, config: RolloutConfig
) -> tuple[Trace, list[str], list[Told]]:
    """A narrating model tells the run from the real call frame on (see
    `narrate_from`); a program that cannot start comes back `failed`."""
    real = real_call_frame(source, entry, input)
    if real.status == "failed" or not real.frames:
        return real, [], []
    return narrate_from(real.source, real.frames[0], backend, config, input)


def narrate_from(
    context: str, call: Frame, backend: Backend, config: RolloutConfig, input: str = ""
) -> tuple[Trace, list[str], list[Told]]:
    """Ask for one sentence at a time after the call frame's, until the entry
    returns or raises, a reply does not parse or `config.max_frames` frames;
    returns the trace the sentences state, the sentences (the call's first,
    written here) and the model's replies. Decoding is free: the constraints
    of `constrain.py` are rules of CWM text."""
    sampling = replace(config.sampling, constrain=False)
    narrator, reader, lines = Narrator(), StepReader(), program_lines(context)
    sentences = [narrator.sentence(call)]
    reader.read(sentences[0])
    trace = Trace(source=context, entry=entry_of(context), frames=[call], input=input)
    told: list[Told] = []
    ended, reason = False, ""
    while len(trace.frames) < config.max_frames:
        reply = backend.complete(window(context, sentences, backend, sampling), sampling)
        if reply == T.END_OF_TEXT:
            told.append(Told(reply, None))
            ended = True
            break
        step = read_reply(reply, reader, lines)
        told.append(step)
        if step.frame is None:
            reason = f"invalid sentence from the model: {step.error}"
            break
        sentences.append(reply[: -len(T.FRAME_SEP)])
        trace.frames.append(step.frame)
        if step.frame.event == "return" and step.frame.depth == 0:
            ended = True
            break
    last = trace.frames[-1]
    if ended and last.event == "return" and last.depth == 0:
        trace.status = "returned"
    elif ended and last.event == "exception":
        trace.status = "raised"
    else:
        trace.status = "truncated"
        trace.reason = reason or f"frame limit reached ({config.max_frames} frames)"
    return trace, sentences, told
