"""The fields SWE-bench 5.x's harness reads: the eval script runs and its log
grades a task as our reward does."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from swe_helpers import summary_statuses

from opencwm.swe.swebench_fields import END, EVAL_TYPE, LOG_PARSER, START, eval_script
from opencwm.swe.task import Task, save_tasks
from opencwm.swe.workspace import apply_patch


def test_saved_rows_carry_the_harness_fields_but_no_image(numbers_task, tmp_path):
    task = numbers_task
    save_tasks([task], tmp_path / "t.jsonl")
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["log_parser"] == LOG_PARSER == "parse_log_pytest"
    assert row["eval_type"] == EVAL_TYPE == "pass_and_fail"
    assert row["eval_script"] == eval_script(task) and "image" not in row
    script = row["eval_script"]
    assert script.index(START) < script.index("python -m pytest") < script.index(END)
    assert f"-- {shlex.join([*task.FAIL_TO_PASS, *task.PASS_TO_PASS])}\n" in script


def run_eval_script(task: Task, testbed: Path) -> str:
    """The script as SWE-bench's harness runs it (`bash eval.sh`, output and
    errors in one log), with this interpreter as `python`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(
        ["bash", "-c", eval_script(task, str(testbed))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return r.stdout


def test_eval_script_log_grades_the_bug_and_the_gold_fix(numbers_task, store, tmp_path):
    """Run on the task's own (trusted) tiny library: the bug fails every
    FAIL_TO_PASS test, the gold patch passes all, and the hidden tests are
    taken out again afterwards."""
    task = numbers_task
    for patch, fail_to_pass in (("", "FAILED"), (task.patch, "PASSED")):
        testbed = tmp_path / ("gold" if patch else "bug")
        store.export(task, testbed)
        apply_patch(testbed, patch)
        before = sorted(p.relative_to(testbed) for p in testbed.rglob("*") if p.is_file())
        log = run_eval_script(task, testbed)
        tested = log.split(START, 1)[1].split(END, 1)[0]
        statuses = summary_statuses(tested)
        assert {t: statuses.get(t) for t in task.FAIL_TO_PASS} == dict.fromkeys(
            task.FAIL_TO_PASS, fail_to_pass
        ), log[-3000:]
        assert {t: statuses.get(t) for t in task.PASS_TO_PASS} == dict.fromkeys(
            task.PASS_TO_PASS, "PASSED"
        ), log[-3000:]
        after = sorted(p.relative_to(testbed) for p in testbed.rglob("*") if p.is_file())
        assert after == before


def test_swebench_grades_the_eval_script_log(numbers_task, store, tmp_path):
    """With swebench installed (not a dependency): its own harness code
    reads our fields and our log and resolves the gold patch."""
    grading = pytest.importorskip("swebench.harness.grading")
    from swebench.harness.utils import make_test_spec

    task = numbers_task
    spec = make_test_spec({**task.to_dict(), "image": "no-image"})
    store.export(task, tmp_path / "testbed")
    apply_patch(tmp_path / "testbed", task.patch)
    log = tmp_path / "test_output.txt"
    log.write_text(run_eval_script(task, tmp_path / "testbed"))
    statuses, ok = grading.get_logs_eval(spec, str(log))
    assert ok and all(statuses[t] == "PASSED" for t in [*task.FAIL_TO_PASS, *task.PASS_TO_PASS])
