"""Scoring: the metrics on hand-made cases, the report, and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from halt_helpers import CYCLE

from opencwm.halt.calibrate import FEATURES, Calibration, fit
from opencwm.halt.evaluate import (
    Case,
    HaltEvalConfig,
    auroc,
    evaluate,
    fit_calibration,
    load_cases,
    plot,
    scores,
    table,
)
from opencwm.halt.predictors import HaltError, ImagineBudget
from opencwm.world.fake import ScriptedBackend


def _row(label: str, pred: str, p: float) -> dict:
    return {"label": label, "x": {"label": pred, "p_halts": p, "seconds": 0.1}}


def test_scores_count_unknown_as_loops():
    rows = [
        _row("halts", "halts", 1.0),
        _row("halts", "unknown", 0.5),
        _row("loops", "unknown", 0.5),
        _row("loops", "loops", 0.0),
        _row("loops", "halts", 1.0),
    ]
    s = scores(rows, "x")
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert s["confusion"] == {
        "halts": {"halts": 1, "loops": 0, "unknown": 1},
        "loops": {"halts": 1, "loops": 1, "unknown": 1},
    }
    # halts scores 1.0, 0.5 against loops 0.5, 0.0, 1.0: wins (1 + 1 + .5) + (.5 + 1 + 0) of 6
    assert s["auroc"] == pytest.approx(4 / 6)


def test_auroc_edges():
    assert auroc([True, False], [0.9, 0.1]) == 1.0
    assert auroc([True, False], [0.1, 0.9]) == 0.0
    assert auroc([True, True], [0.5, 0.5]) is None


def test_calibration_fits_separable_features_and_round_trips(tmp_path: Path):
    base = dict.fromkeys(FEATURES, 0.0)
    rows = [{**base, "ended": 1.0}] * 10 + [{**base, "repeated": 1.0}] * 10
    calib = fit(rows, ["halts"] * 10 + ["loops"] * 10, "hand")
    assert calib.p_halts({**base, "ended": 1.0}) > 0.8
    assert calib.p_halts({**base, "repeated": 1.0}) < 0.2
    path = tmp_path / "c.json"
    calib.save(path)
    again = Calibration.load(path)
    assert again.p_halts({**base, "ended": 1.0}) == calib.p_halts({**base, "ended": 1.0})
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a halting calibration"):
        Calibration.load(path)
    path.write_text("garbage")
    with pytest.raises(ValueError, match="cannot read"):
        Calibration.load(path)


def test_load_cases_from_jsonl(tmp_path: Path):
    path = tmp_path / "h.jsonl"
    path.write_text(
        json.dumps({"code": CYCLE, "entry": "f", "input": "5", "label": "loops"})
        + "\n\n"
        + json.dumps({"id": "x", "code": CYCLE, "input": "6", "label": "halts", "pattern": "p"})
        + "\n"
    )
    a, b = load_cases(path)
    assert a == Case("line-1", CYCLE, "f", "5", "loops", "")
    assert b == Case("x", CYCLE, None, "6", "halts", "p")
    assert load_cases(path, limit=1) == [a]
    with pytest.raises(HaltError, match="does not exist"):
        load_cases(tmp_path / "none.jsonl")


def test_evaluate_with_garbage_model_and_real_execution(tmp_path: Path):
    cases = [
        Case("h", CYCLE, "f", "6", "halts", "cycle"),
        Case("l", CYCLE, "f", "5", "loops", "cycle"),
        Case("bad", "def f(:\n", "f", "1", "halts"),
    ]
    backend = ScriptedBackend([], after="garbage")
    report = evaluate(cases, backend, HaltEvalConfig("hand", imagine=ImagineBudget(retries=0)))
    assert report["n"] == 2 and report["errors"] == 1
    assert "syntax" in report["items"][2]["error"].lower()
    ex, world, const = (report["predictors"][p] for p in ("execute", "world", "constant"))
    assert ex["balanced_accuracy"] == 1.0 and ex["auroc"] == 1.0
    assert const["balanced_accuracy"] == 0.5 and const["auroc"] == 0.5
    assert world["confusion"]["halts"]["unknown"] == 1  # gave up: garbage frames
    assert report["by_pattern"]["cycle"]["execute"] == {"n": 2, "accuracy": 1.0}
    png = tmp_path / "r.png"
    plot(report, png)
    assert png.stat().st_size > 1000
    assert table(report).row_count == 3


def test_fit_calibration_needs_both_labels():
    backend = ScriptedBackend([], after="garbage")
    with pytest.raises(HaltError, match="both labels"):
        fit_calibration([Case("h", CYCLE, "f", "6", "halts")], backend, ImagineBudget(), "hand")
