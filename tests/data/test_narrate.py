"""Narrated corpora: every row's narration parses back to its frames, and trains."""

import json

import pytest

from opencwm.data.narrate import (
    NarrateError,
    corpus_format,
    narrate_corpus,
    narrate_from,
    read_narration,
    split_narration,
)
from opencwm.data.pipeline import BuildConfig, build, iter_rows
from opencwm.trace import tokens as T
from opencwm.trace.cwm import split_context
from opencwm.trace.frame import Frame
from opencwm.world.fake import ScriptedBackend
from opencwm.world.rollout import RolloutConfig


@pytest.fixture
def corpora(tmp_path, small_jsonl):
    plain, told = tmp_path / "plain", tmp_path / "told"
    build(BuildConfig(source=f"jsonl:{small_jsonl}", out=plain, workers=1))
    narrate_corpus(plain, told)
    return plain, told


def test_every_row_round_trips_and_other_columns_stay(corpora):
    plain, told = corpora
    assert corpus_format(plain) == "cwm" and corpus_format(told) == "nl"
    rows = list(iter_rows(told))
    assert len(rows) == len(list(iter_rows(plain))) > 30
    for before, after in zip(iter_rows(plain), rows, strict=True):
        assert {k: v for k, v in before.items() if k != "cwm"} == {
            k: v for k, v in after.items() if k != "cwm"
        }
        assert split_context(after["cwm"])[0] == split_context(before["cwm"])[0]
        trace = read_narration(after["cwm"])
        assert trace.frames == [Frame.from_dict(d) for d in json.loads(after["frames"])]
        assert trace.status == after["status"]
        assert after["cwm"].endswith(T.END_OF_TEXT) == before["cwm"].endswith(T.END_OF_TEXT)
    _, sentences, _ = split_narration(rows[0]["cwm"])
    assert sentences[0].startswith("Line 1: `f` is called with `xs = ")


def test_narrating_twice_or_in_place_is_refused(corpora, tmp_path):
    plain, told = corpora
    with pytest.raises(NarrateError, match="already narrated"):
        narrate_corpus(told, tmp_path / "again")
    with pytest.raises(NarrateError, match="another directory"):
        narrate_corpus(plain, plain)


def test_a_micro_model_trains_on_english_alone_or_mixed_with_cwm_text(corpora, tmp_path):
    """The trainer windows a narrated corpus from its own sentences (loss on
    English only), mixes it with a CWM one, and records the formats."""
    import numpy as np

    from opencwm.data.narrate import narrates
    from opencwm.model.tokenizer import load_tokenizer
    from opencwm.model.train import TrainConfig, train

    plain, told = corpora
    for name, data in (("nl", str(told)), ("mixed", [str(told), str(plain)])):
        out = tmp_path / name
        c = TrainConfig(
            data=data, out=str(out), preset="micro", steps=3, block=256, batch_size=2,
            eval_every=3, save_every=3, vocab_size=400, warmup=1,
        )  # fmt: skip
        assert train(c)
        tok = load_tokenizer(out)
        z = np.load(out / "packed.npz")
        targets = "".join(
            tok.decode([int(i) for i, m in zip(ids, mask, strict=True) if m])
            for ids, mask in zip(z["train_ids"], z["train_mask"], strict=True)
        )
        assert "Line " in targets
        assert ("<|action_sep|>" in targets) == (name == "mixed")
        formats = json.loads((out / "train_config.json").read_text())["formats"]
        assert formats == (["nl"] if name == "nl" else ["nl", "cwm"])
        assert narrates(out) == (name == "nl")
        assert not (out / "narration.json").exists()


def sentences_and_replies(row):
    context, sentences, _ = split_narration(row["cwm"])
    frames = [Frame.from_dict(d) for d in json.loads(row["frames"])]
    return context, frames, [s + T.FRAME_SEP for s in sentences[1:]]


def test_a_perfect_narrator_tells_the_run_exactly(corpora):
    _, told = corpora
    row = next(iter_rows(told, "test"))
    context, frames, replies = sentences_and_replies(row)
    trace, sentences, steps = narrate_from(
        context, frames[0], ScriptedBackend(replies), RolloutConfig()
    )
    assert trace.frames == frames and trace.status == "returned"
    assert sentences == split_narration(row["cwm"])[1]
    assert all(not s.error for s in steps)


def test_garbage_is_an_error_per_sentence_and_nothing_is_lost(corpora):
    _, told = corpora
    row = next(iter_rows(told, "test"))
    context, frames, replies = sentences_and_replies(row)
    for bad in ("nonsense" + T.FRAME_SEP, "Line 2: `zz` becomes `1` (was `2`)." + T.FRAME_SEP,
                "Line 2: `xs` is set to `1`", ""):  # fmt: skip
        trace, _, steps = narrate_from(
            context, frames[0], ScriptedBackend([replies[0], bad]), RolloutConfig()
        )
        assert trace.status == "truncated" and "invalid sentence" in trace.reason
        assert len(trace.frames) == 2 and steps[-1].reply == bad
        assert steps[-1].error and "\n" not in steps[-1].error
