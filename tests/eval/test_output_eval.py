"""`eval output` in process: the sample file, rollouts graded like CRUXEval."""

from __future__ import annotations

import json

import pytest
from eval_helpers import SAMPLE, Constant, Oracle, write_jsonl

from opencwm.eval import EvalError
from opencwm.eval.output_eval import OutputEvalConfig, evaluate_outputs, load_problems, pass_line
from opencwm.trace import tokens as T
from opencwm.tracer.api import trace_program


def test_the_sample_file_agrees_with_python(sandbox):
    problems = load_problems(SAMPLE)
    assert len(problems) == 30 and len({p.id for p in problems}) == 30
    for p in problems:
        trace = trace_program(p.code, "f", p.input, sandbox=sandbox)
        assert (trace.status, trace.result) == ("returned", p.output), p.id


def test_a_perfect_model_passes_everything(sample_traces, sandbox):
    config = OutputEvalConfig(SAMPLE, limit=5)
    report = evaluate_outputs(config, Oracle(list(sample_traces.values())), sandbox=sandbox)
    assert (report["problems"], report["passed"], report["pass@1"]) == (5, 5, 1.0)
    assert all(i["prediction"] == i["expected"] for i in report["items"])
    assert pass_line(report) == "pass@1: 1.000 (5/5)"
    json.dumps(report)


def test_equality_is_pythons_not_the_texts(sample_traces, sandbox):
    """Return values written without spaces ('[1,7,0,4]') still equal the
    expected ones: the grade runs `assert OUTPUT == PREDICTION`. (The first
    four problems make no nested calls, so only the entry's return changes.)"""

    def squeeze(prompt: str, reply: str) -> str:
        if not reply.startswith(T.RETURN_SEP):
            return reply
        head, arg = reply.removesuffix(T.FRAME_SEP).split(T.ARG_SEP)
        return head + T.ARG_SEP + json.dumps(json.loads(arg).replace(" ", "")) + T.FRAME_SEP

    report = evaluate_outputs(
        OutputEvalConfig(SAMPLE, limit=4),
        Oracle(list(sample_traces.values()), squeeze),
        sandbox=sandbox,
    )
    assert report["items"][3]["prediction"] == "[1,7,0,4]"
    assert report["passed"] == 4, report["items"]


def test_no_return_means_wrong(sandbox):
    report = evaluate_outputs(
        OutputEvalConfig(SAMPLE, limit=2), Constant("garbage"), sandbox=sandbox
    )
    assert report["passed"] == 0 and pass_line(report) == "pass@1: 0.000 (0/2)"
    item = report["items"][0]
    assert item["prediction"] is None and "no return" in item["reason"]
    assert item["steps"] == 1 and item["valid_steps"] == 0


def test_a_problem_that_cannot_start_is_wrong(tmp_path, sandbox):
    row = {"code": "def g(): pass\n", "input": "", "output": "1"}
    path = write_jsonl(tmp_path / "p.jsonl", [row])
    report = evaluate_outputs(OutputEvalConfig(path), Constant("x"), sandbox=sandbox)
    assert report["items"][0]["reason"].startswith("could not start")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"code": "def f(): pass", "input": ""}'], r"p.jsonl:1: expected a JSON object"),
        (["", '{"code": 1, "input": "", "output": "1"}', "[1]"], r"p.jsonl:3: expected"),
        (["not json"], r"p.jsonl:1: expected"),
        (["", "  "], "holds no problems"),
    ],
)
def test_malformed_files_are_one_clear_error(tmp_path, lines, message):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalError, match=message):
        load_problems(path)


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(EvalError, match="does not exist"):
        load_problems(tmp_path / "nope.jsonl")
