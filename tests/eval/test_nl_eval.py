"""`eval nl`: narration parsed back and scored; perfect is 100%, garbage is errors."""

from dataclasses import replace

import pytest
from eval_helpers import Constant, Oracle

from opencwm.data.narrate import narrated_text
from opencwm.eval.nl_eval import METRICS, NlEvalConfig, evaluate_nl, nl_tables, plot_nl
from opencwm.eval.trace_eval import load_cases
from opencwm.trace import tokens as T
from opencwm.world.backends import STOPS


class NarratedOracle:
    """Answers with the true next sentence of whichever narrated run the
    prompt is a prefix of (the `Oracle` of `eval trace`, in English)."""

    context_tokens = 10**9

    def __init__(self, cases) -> None:
        self.texts = [narrated_text(c.trace.source, c.trace.frames, True) for c in cases]

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt, sampling):
        assert not sampling.constrain, "a narrating model decodes freely"
        for text in self.texts:
            if text.startswith(prompt):
                rest = text[len(prompt) :]
                return rest[: min(rest.find(s) + len(s) for s in STOPS if s in rest)]
        return T.END_OF_TEXT


@pytest.fixture(scope="module")
def config(sample_corpus):
    return NlEvalConfig(data=sample_corpus, split="test", limit=4, batch_size=3)


def values(report, mode="teacher_forced"):
    return {m: cell["all"]["value"] for m, cell in report[mode].items()}


def test_a_perfect_narrator_scores_everything(config, tmp_path):
    cases = load_cases(config.data, config.split, config.limit)
    report = evaluate_nl(replace(config, narrating=True), NarratedOracle(cases))
    assert report["steps"] == sum(len(c.trace.frames) - 1 for c in cases) > 10
    assert set(values(report)) == set(METRICS)
    assert all(v == 1.0 for v in values(report).values() if v is not None), values(report)
    assert values(report, "free_running")["output"] == values(report, "free_running")["trace"] == 1
    assert all(not t["teacher_forced"]["errors"] for t in report["per_trace"])
    assert len(nl_tables(report)) == 2
    plot_nl(report, tmp_path / "nl.png")
    assert (tmp_path / "nl.png").stat().st_size > 1000


def test_a_perfect_cwm_model_stated_in_english_scores_everything(config):
    cases = load_cases(config.data, config.split, config.limit)
    report = evaluate_nl(config, Oracle([c.trace for c in cases]))
    assert all(v == 1.0 for v in values(report).values() if v is not None), values(report)
    assert report["free_running"] == {}


def corrupt(prompt: str, reply: str) -> str:
    """Wrong values on some steps, wrong lines on others, garbage on a few."""
    k = len(prompt) % 5
    if k == 0:
        return reply.replace("1", "2")
    if k == 1:
        return reply.replace("\n", "  \n", 1)
    if k == 2:
        return "garbage" + T.FRAME_SEP
    return reply


def test_english_scores_cwm_predictions_as_their_frames_do(config):
    """Stating a CWM model's frames in English and parsing them back loses
    nothing: the report equals scoring the frames themselves."""
    cases = load_cases(config.data, config.split, config.limit)
    oracle = Oracle([c.trace for c in cases], corrupt)
    via_nl = evaluate_nl(config, oracle)
    direct = evaluate_nl(replace(config, via_nl=False), oracle)
    assert via_nl["teacher_forced"] == direct["teacher_forced"]
    got = values(via_nl)
    assert 0 < got["valid"] < 1 and 0 < got["state"] < 1 and 0 < got["changed_accuracy"] < 1


def test_garbage_narration_is_errors_not_a_crash(config):
    for reply in ("nonsense" + T.FRAME_SEP, "Line 3: `x` becomes `1` (was `0`)." + T.FRAME_SEP,
                  "no separator at all"):  # fmt: skip
        report = evaluate_nl(replace(config, narrating=True), Constant(reply))
        assert values(report)["valid"] == 0 and values(report)["state"] == 0
        errors = [e for t in report["per_trace"] for e in t["teacher_forced"]["errors"]]
        assert len(errors) == report["steps"]
        assert all(e["reply"] == reply and "\n" not in e["error"] for e in errors)
        assert values(report, "free_running")["finished"] == 0
