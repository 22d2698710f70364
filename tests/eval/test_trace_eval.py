"""`eval trace` in process, with deterministic backends whose right answers
are known: a perfect model scores 1 everywhere, a garbage one 0, and a
model wrong in one known place loses exactly the figures that place costs."""

from __future__ import annotations

import json

import pytest
from eval_helpers import Constant, Oracle

from opencwm.eval import EvalError
from opencwm.eval.report import plot_by_length, tables
from opencwm.eval.trace_eval import TraceEvalConfig, evaluate, load_cases
from opencwm.trace import tokens as T


def value(report: dict, mode: str, metric: str, dim: str = "all", key: str = "all"):
    cell = report[mode][metric]
    return (cell["all"] if dim == "all" else cell[f"by_{dim}"][key])["value"]


def test_a_perfect_model_scores_one_everywhere(sample_corpus, sample_traces, tmp_path):
    config = TraceEvalConfig(sample_corpus, split="test", model="oracle")
    report = evaluate(config, Oracle(list(sample_traces.values())))
    assert report["traces"] == len(load_cases(sample_corpus, "test")) > 0
    for metric, cell in report["teacher_forced"].items():
        assert cell["all"]["value"] == 1.0, metric
    for metric in ("valid", "finished", "output", "trace"):
        assert value(report, "free_running", metric) == 1.0, metric
    steps = [t["frames"] - 1 for t in report["per_trace"]]
    assert value(report, "free_running", "steps_to_first_error") == sum(steps) / len(steps)
    assert report["steps"] == sum(steps)
    assert set(report["teacher_forced"]["state"]["by_source"]) == {"jsonl"}
    assert report["teacher_forced"]["changed_accuracy"]["by_type"]  # split by value type
    json.dumps(report)  # JSON-ready
    plot_by_length(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert len(tables(report)) == 3


@pytest.mark.parametrize("reply", ["garbage", "<|line_sep|>{]<|frame_sep|>", T.END_OF_TEXT])
def test_a_model_that_never_writes_a_frame_scores_zero(sample_corpus, reply):
    report = evaluate(TraceEvalConfig(sample_corpus, split="test", limit=2), Constant(reply))
    for metric in ("state", "action", "frame", "changed_recall", "changed_accuracy"):
        assert value(report, "teacher_forced", metric) == 0.0, metric
    assert value(report, "teacher_forced", "valid") == (1.0 if reply == T.END_OF_TEXT else 0.0)
    for metric in ("finished", "output", "trace", "steps_to_first_error"):
        assert value(report, "free_running", metric) == 0.0, metric
    assert all(t["free_running"]["status"] == "truncated" for t in report["per_trace"])


def test_a_wrong_return_value_costs_the_output_and_nothing_else(sample_corpus, sample_traces):
    def corrupt(prompt: str, reply: str) -> str:
        if reply.startswith(T.RETURN_SEP):
            return reply.split(T.ARG_SEP)[0] + T.ARG_SEP + '"0"' + T.FRAME_SEP
        return reply

    case = load_cases(sample_corpus, "train", 1)[0]  # sample_0: call, line, return
    assert len(case.trace.frames) == 3
    config = TraceEvalConfig(sample_corpus, split="train", limit=1, model="corrupt")
    report = evaluate(config, Oracle(list(sample_traces.values()), corrupt))
    assert value(report, "teacher_forced", "valid") == 1.0
    assert value(report, "teacher_forced", "action") == 1.0
    assert value(report, "teacher_forced", "state") == 0.5  # the line frame, not the return
    assert value(report, "free_running", "finished") == 1.0
    assert value(report, "free_running", "output") == 0.0
    assert value(report, "free_running", "trace") == 0.0
    assert value(report, "free_running", "steps_to_first_error") == 1.0
    tf = report["per_trace"][0]["teacher_forced"]
    assert tf == {"steps": 2, "right": 1, "valid": 2, "first_wrong": 2}
    assert report["per_trace"][0]["free_running"]["result"] == "0"


def test_an_unparsable_frame_stops_the_rollout_but_not_teacher_forcing(
    sample_corpus, sample_traces
):
    target = load_cases(sample_corpus, "test", 1)[0].trace
    bad_after = len(target.frames) // 2

    def corrupt(prompt: str, reply: str) -> str:
        return "<|line_sep|>{oops" if prompt.count(T.FRAME_SEP) == bad_after + 1 else reply

    config = TraceEvalConfig(sample_corpus, split="test", limit=1)
    report = evaluate(config, Oracle(list(sample_traces.values()), corrupt))
    n = len(target.frames) - 1
    assert value(report, "teacher_forced", "valid") == pytest.approx((n - 1) / n)
    assert value(report, "teacher_forced", "frame") == pytest.approx((n - 1) / n)
    fr = report["per_trace"][0]["free_running"]
    assert fr["status"] == "truncated" and "invalid frame" in fr["reason"]
    assert fr["steps_to_first_error"] == bad_after - 1
    assert value(report, "free_running", "valid") == pytest.approx((bad_after - 1) / bad_after)


def test_free_running_frames_are_capped(sample_corpus, sample_traces):
    config = TraceEvalConfig(sample_corpus, split="test", limit=1, max_frames=2)
    report = evaluate(config, Oracle(list(sample_traces.values())))
    fr = report["per_trace"][0]["free_running"]
    assert fr["frames"] == 2 and fr["status"] == "truncated"
    assert "frame limit" in fr["reason"]


def test_modes_can_be_switched_off(sample_corpus, sample_traces):
    backend = Oracle(list(sample_traces.values()))
    config = TraceEvalConfig(sample_corpus, split="val", teacher_forced=False)
    report = evaluate(config, backend)
    assert report["teacher_forced"] == {} and report["steps"] == 0
    assert "teacher_forced" not in report["per_trace"][0]
    assert backend.calls == sum(t["frames"] - 1 for t in report["per_trace"])


def test_bad_data_is_one_clear_error(sample_corpus, tmp_path):
    with pytest.raises(EvalError, match="not a built corpus"):
        load_cases(tmp_path, "test")
    with pytest.raises(EvalError, match=r"no finished traces in split 'dev'; splits there: .*test"):
        load_cases(sample_corpus, "dev")


def without_time(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "seconds"}


def test_batch_size_changes_nothing_but_the_speed(sample_corpus, sample_traces):
    """Steps of several traces share a batch and rollouts run in lockstep;
    each trace must still be scored, in order, on its own replies."""

    def corrupt(prompt: str, reply: str) -> str:  # some steps wrong, some rollouts cut short
        return "<|line_sep|>{oops" if prompt.count(T.FRAME_SEP) % 5 == 3 else reply

    reports, seen = [], []
    for batch_size in (1, 3, 64):
        config = TraceEvalConfig(sample_corpus, split="test", batch_size=batch_size)
        calls: list[int] = []
        report = evaluate(
            config,
            Oracle(list(sample_traces.values()), corrupt),
            on_start=calls.append,
            on_case=lambda row, calls=calls: calls.append(row["id"]),
        )
        reports.append(without_time(report))
        seen.append(calls)
    assert reports[0] == reports[1] == reports[2]
    n = reports[0]["traces"]
    assert 0 < value(reports[0], "teacher_forced", "state") < 1
    assert seen[1][0] == 2 * n and len(seen[1]) == 1 + 2 * n  # each trace once per mode
    ids = [t["id"] for t in reports[0]["per_trace"]]
    assert seen[1][1:] == ids + ids


def test_a_local_model_scores_the_same_in_batches(micro_model, sample_corpus):
    """The real model, batched and not. The micro model knows sample_0 (train)
    with wide margins; see tests/world/test_batch.py for why exact figures
    are compared on what a model knows."""
    from opencwm.world.backends import LocalBackend, Sampling

    backend = LocalBackend(str(micro_model), device="cpu")
    reports = []
    for batch_size in (1, 4):
        config = TraceEvalConfig(
            sample_corpus, "train", limit=2, sampling=Sampling(max_tokens=48), batch_size=batch_size
        )
        reports.append(without_time(evaluate(config, backend)))
    assert reports[0]["per_trace"][0] == reports[1]["per_trace"][0]
    assert reports[0]["per_trace"][0]["teacher_forced"]["right"] == 2
    assert reports[0] == reports[1]
