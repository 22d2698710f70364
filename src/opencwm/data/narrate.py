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

Training on it: `opencwm train --data OUT` (alone or with CWM corpora).
The trainer tags each row with its corpus's format and windows a
narrated row from its own sentences (`model/windows.py`: a window that
starts mid-trace opens with the state in full, `Narrator.state`), and
records the formats in the run's `train_config.json`, by which `predict`
and `eval nl` know the model narrates (`narrates`).

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
"""Marked a model directory packed with narration by an earlier version
(`data narrate --pack-for`); still read by `narrates`."""


class NarrateError(ValueError):
    """A corpus that cannot be narrated; one line."""


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
    from opencwm.model.windows import corpus_format as manifest_format

    if not (Path(data) / "manifest.json").exists():
        raise NarrateError(f"{data} is not a built corpus (no manifest.json)")
    return manifest_format(data)


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


def narrates(model_dir: Path | str | None) -> bool:
    """Whether a model directory was trained on narration only: the formats
    the trainer recorded in `train_config.json` (or the `narration.json` of
    a model packed by an earlier version). A model trained on a mix writes
    what its first frame starts (CWM text, unless told `--narrated`)."""
    if model_dir is None:
        return False
    config = Path(model_dir) / "train_config.json"
    formats = json.loads(config.read_text()).get("formats") if config.exists() else None
    if formats:
        return set(formats) == {FORMAT}
    return (Path(model_dir) / MARKER).exists()


# -- a narrating model's rollout ---------------------------------------------------
@dataclass
class Told:
    """One reply of a narrating model: the frame its sentence states, or
    the raw reply and why it does not parse."""

    reply: str
    frame: Frame | None
    error: str = ""


def window(
    context: str,
    sentences: list[str],
    backend: Backend,
    sampling: Sampling,
    frames: list[Frame] | None = None,
) -> str:
    """The prompt: the program and the latest sentences that fit (at least
    one). Given the `frames` the sentences state, a window that starts at
    sentence `k > 0` opens as training's do (`model/windows.py`): the
    callers' state and frame k in full (`narrated_head`), then the rest."""
    from opencwm.model.windows import narrated_head

    head, budget = prompt_text(context), backend.context_tokens - sampling.max_tokens
    start = 0
    while True:
        told = sentences[start:]
        if start and frames is not None:
            told = narrated_head(frames, start) + sentences[start + 1 :]
        prompt = head + "".join(s + T.FRAME_SEP for s in told)
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
        reply = backend.complete(
            window(context, sentences, backend, sampling, trace.frames), sampling
        )
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
