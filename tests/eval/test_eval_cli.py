"""`opencwm eval trace` and `opencwm eval output` as users run them: real
subprocesses on the micro model, which knows sample_0 by heart and nothing
else, so each run has one known right answer among wrong ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from eval_helpers import MEMORISED, SAMPLE


def opencwm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "opencwm", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def test_eval_trace_writes_json_png_and_tables(micro_model, sample_corpus, tmp_path):
    out = tmp_path / "reports" / "trace.json"
    r = opencwm(
        "eval", "trace", "--model", str(micro_model), "--data", str(sample_corpus),
        "--split", "train", "--limit", "2", "--max-tokens", "48", "--out", str(out),
        "--batch-size", "3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "opencwm.eval.trace" and report["traces"] == 2
    assert out.with_suffix(".png").stat().st_size > 1000
    first = report["per_trace"][0]
    assert first["id"] == MEMORISED
    assert first["teacher_forced"]["right"] == first["teacher_forced"]["steps"] == 2
    assert first["free_running"]["trace"] and first["free_running"]["output"]
    for mode in ("teacher_forced", "free_running"):
        for metric, cell in report[mode].items():
            assert ("by_source" in cell and "by_length" in cell) or cell["all"]["n"] == 0, metric
    assert "state exact match" in r.stdout and "by trace length" in r.stdout
    assert str(out) in r.stdout.strip().splitlines()[-1]


def test_eval_output_ends_with_pass_at_1(micro_model, tmp_path):
    out = tmp_path / "predictions.json"
    r = opencwm(
        "eval", "output", "--model", str(micro_model), "--data", str(SAMPLE),
        "--limit", "2", "--max-tokens", "48", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"pass@1: (\d\.\d{3}) \((\d+)/2\)", last)
    assert m, last
    report = json.loads(out.read_text())
    assert report["items"][0]["id"] == MEMORISED and report["items"][0]["passed"]
    assert int(m[2]) == report["passed"] >= 1


def test_eval_errors_are_one_line(sample_corpus, tmp_path):
    r = opencwm("eval", "trace", "--data", str(tmp_path), "--model", str(tmp_path))
    assert r.returncode == 2 and "not a built corpus" in r.stderr
    r = opencwm("eval", "trace", "--data", str(sample_corpus), "--model", str(tmp_path))
    assert r.returncode == 2 and "not a model directory" in r.stderr
    r = opencwm("eval", "trace", "--data", str(sample_corpus), "--batch-size", "0")
    assert r.returncode == 2 and "--batch-size must be at least 1, got 0" in r.stderr
    r = opencwm("eval", "output", "--data", str(tmp_path / "nope.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert all(len(x.strip().splitlines()) == 1 for x in (r.stderr,))
