"""`opencwm eval loss`: held-out teacher-forced loss in training's windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import MEMORISED, SAMPLE
from typer.testing import CliRunner

from opencwm.cli import app
from opencwm.eval import EvalError
from opencwm.eval.loss_eval import heldout_loss


@pytest.fixture(scope="module")
def memorised_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A corpus of the memorised problem alone, and the split it fell in."""
    from opencwm.data.pipeline import BuildConfig, build

    line = next(x for x in SAMPLE.read_text().splitlines() if json.loads(x)["id"] == MEMORISED)
    src = tmp_path_factory.mktemp("one") / "one.jsonl"
    src.write_text(line + "\n")
    out = tmp_path_factory.mktemp("one-corpus")
    build(BuildConfig(source=f"jsonl:{src}", out=out, workers=1))
    splits = json.loads((out / "manifest.json").read_text())["splits"]
    return out, next(s for s in ("train", "val", "test") if splits[s])


def test_a_memorised_trace_scores_far_above_unseen_ones(
    micro_model: Path, memorised_corpus: tuple[Path, str], sample_corpus: Path
) -> None:
    corpus, split = memorised_corpus
    seen = heldout_loss(micro_model, corpus, split)
    assert seen["traces"] == 1 and seen["target_tokens"] > 0
    assert seen["token_acc"] > 0.95 and seen["frame_acc"] > 0.9
    unseen = heldout_loss(micro_model, sample_corpus, "test")
    assert unseen["traces"] > 1
    assert unseen["loss"] > 2 * seen["loss"]
    assert unseen["token_acc"] < seen["token_acc"]


def test_limit_takes_the_first_traces(micro_model: Path, sample_corpus: Path) -> None:
    one = heldout_loss(micro_model, sample_corpus, "train", limit=1)
    every = heldout_loss(micro_model, sample_corpus, "train")
    assert one["traces"] == 1 < every["traces"]
    assert one["target_tokens"] < every["target_tokens"]


def test_no_corpus_or_no_model_is_a_one_line_error(micro_model: Path, tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="not a built corpus"):
        heldout_loss(micro_model, tmp_path, "test")
    result = CliRunner().invoke(
        app, ["eval", "loss", "--data", str(tmp_path), "--model", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "not a model directory" in result.output


def test_a_narrated_corpus_is_scored_on_its_sentences(
    micro_model: Path, sample_corpus: Path, tmp_path: Path
) -> None:
    from opencwm.data.narrate import narrate_corpus

    narrate_corpus(sample_corpus, tmp_path / "nl")
    told = heldout_loss(micro_model, tmp_path / "nl", "train")
    cwm = heldout_loss(micro_model, sample_corpus, "train")
    assert told["traces"] == cwm["traces"]
    assert told["target_tokens"] > 0 and told["target_tokens"] != cwm["target_tokens"]
