"""`eval distributed` scores what the model writes: an oracle that answers
with the true next frame scores 100%, a model that ends every trace 0%."""

import json

import pytest

from opencwm.data.pipeline import BuildConfig, build
from opencwm.data.work import WorkConfig
from opencwm.eval.distributed_eval import (
    DistributedEvalConfig,
    evaluate,
    load_cases,
    outcome_of,
    plot,
    table_rows,
)
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, from_cwm
from opencwm.tracer.api import TraceConfig


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "corpus"
    work = WorkConfig(TraceConfig(timeout_s=10, max_frames=2000), check_determinism=False)
    build(BuildConfig(source="distributed:6", out=out, work=work, workers=1))
    return out


class Oracle:
    """Answers every prompt with the true next frame of its run."""

    context_tokens = 10**7

    def __init__(self, cases):
        self.frames = {c.source: c.frames for c in cases}

    def count_tokens(self, text):
        return len(text)

    def complete(self, prompt, sampling):
        seen = from_cwm(prompt)
        frames = self.frames[seen.source]
        k = len(seen.frames)
        return frame_text(frames[k], frames[k - 1] if k else None)


class Ender:
    context_tokens = 10**7

    def count_tokens(self, text):
        return len(text)

    def complete(self, prompt, sampling):
        return T.END_OF_TEXT


def test_an_oracle_scores_everything_and_a_quitter_nothing(corpus, tmp_path):
    config = DistributedEvalConfig(corpus, split="train", steps=4, model="oracle")
    report = evaluate(config, Oracle(load_cases(corpus, "train")))
    assert report["overall"]["runs"] >= 5
    assert (report["overall"]["next_event"], report["overall"]["final_state"]) == (1.0, 1.0)
    assert report["overall"]["outcome"] == 1.0
    assert set(report["by_nodes"]) <= {"2", "3", "4", "5"} and report["by_bug"]
    assert table_rows(report)[0][0] == "all"
    zero = evaluate(config, Ender())["overall"]
    assert (zero["next_event"], zero["final_state"], zero["outcome"]) == (0.0, 0.0, 0.0)
    plot(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    json.dumps(report)


def test_the_outcome_is_read_from_the_head_of_main_s_value():
    assert outcome_of("('deadlock', [Server(name='s', k=2)])") == "deadlock"
    assert outcome_of("None") is None and outcome_of(None) is None
