"""Grading rules without agents: the harness diff, protected paths, the verdict."""

from __future__ import annotations

import os

import pytest
from swe_helpers import summary_statuses

from opencwm.swe.reward import judge, score_patch, similarity
from opencwm.swe.task import Task
from opencwm.swe.testrun import LOG_CAP_BYTES, TestRun, run_tests
from opencwm.swe.workspace import diff_trees, protected_reason


@pytest.mark.parametrize(
    ("path", "new", "refused"),
    [
        ("pkg/mod.py", False, False),
        ("pkg/new_helper.py", True, False),
        ("tests/test_x.py", False, True),
        ("pkg/tests/helpers.py", True, True),
        ("test_top.py", True, True),
        ("pkg/mod_test.py", True, True),
        ("conftest.py", True, True),
        ("pkg/conftest.py", False, True),
        ("pyproject.toml", False, True),
        ("setup.cfg", True, True),
        ("tox.ini", True, True),
        ("pytest.ini", True, True),
        ("pkg/x.pth", True, True),
        ("sitecustomize.py", True, True),
        ("pytest.py", True, True),
        ("src/json.py", True, True),
        ("_pytest/__init__.py", True, True),
        ("pkg/json.py", True, False),  # inside the package: does not shadow
    ],
)
def test_protected_paths(path, new, refused):
    assert (protected_reason(path, new=new) is not None) == refused


def test_diff_trees_sees_adds_edits_deletes_and_refuses_links(tmp_path):
    snap, work = tmp_path / "snap", tmp_path / "work"
    for root in (snap, work):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "a.py").write_text("a = 1\n")
        (root / "pkg" / "gone.py").write_text("g = 1\n")
        (root / "tests").mkdir()
        (root / "tests" / "test_a.py").write_text("def test(): pass\n")
    (work / "pkg" / "a.py").write_text("a = 2\n")
    (work / "pkg" / "gone.py").unlink()
    (work / "pkg" / "b.py").write_text("b = 1\n")
    (work / "tests" / "test_a.py").unlink()
    (work / "pkg" / "__pycache__").mkdir()
    (work / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (work / ".git").mkdir()
    (work / ".git" / "HEAD").write_text("ref")
    os.symlink("/etc/passwd", work / "pkg" / "link.py")
    os.mkfifo(work / "pkg" / "fifo")
    changes, refused = diff_trees(snap, work)
    assert {(c.path, c.data) for c in changes} == {
        ("pkg/a.py", b"a = 2\n"),
        ("pkg/b.py", b"b = 1\n"),
        ("pkg/gone.py", None),
    }
    assert dict(refused).keys() == {"pkg/link.py", "pkg/fifo", "tests/test_a.py"}


def _task(**kw) -> Task:
    base = {"instance_id": "t", "repo": "local/t", "base_commit": "", "problem_statement": "",
            "patch": "", "test_patch": "", "FAIL_TO_PASS": ["a"], "PASS_TO_PASS": ["b"],
            "version": "0"}  # fmt: skip
    return Task.from_dict({**base, **kw})


@pytest.mark.parametrize(
    ("run", "resolved", "reason"),
    [
        (TestRun({"a": "passed", "b": "passed"}, exit_code=0, report_exitstatus=0), True, "every"),
        (TestRun({"a": "failed", "b": "passed"}, exit_code=1, report_exitstatus=1), False, "FAIL"),
        (TestRun({"a": "passed"}, exit_code=0, report_exitstatus=0), False, "b (missing)"),
        (TestRun({"a": "passed", "b": "skipped"}, exit_code=0, report_exitstatus=0), False, "PASS"),
        (TestRun({"a": "passed", "b": "passed"}, exit_code=1, report_exitstatus=0), False, "exit"),
        (
            TestRun(
                {"a": "passed", "b": "passed"},
                exit_code=0,
                report_exitstatus=0,
                collect_errors=[["t.py", "SyntaxError: x"]],
            ),
            False,
            "collection",
        ),
        (TestRun(exit_code=0, error="no test report"), False, "no test report"),
    ],
)
def test_judge(run, resolved, reason):
    ok, why = judge(_task(), run)
    assert ok == resolved and reason in why


def test_similarity_shaping_signal():
    gold = "-    return a\n+    return b\n"
    assert similarity(gold, gold) == 1.0 and similarity(gold, "") == 0.0
    assert 0 < similarity(gold, "+    return c\n") < 1


def test_score_patch_of_gold_and_empty(tasks, store):
    task = tasks[0]
    gold = score_patch(task, store, task.patch)
    assert gold.resolved and gold.reward == 1.0 and gold.similarity > 0.9
    empty = score_patch(task, store, "")
    assert not empty.resolved and empty.reward == 0.0 and empty.patch == ""
    assert all(s == "passed" for s in empty.pass_to_pass.values())


def test_verdict_keeps_the_raw_pytest_log_for_log_based_graders(tasks, store):
    task = tasks[0]
    for patch, fail_to_pass in ((task.patch, "PASSED"), ("", "FAILED")):
        tests = score_patch(task, store, patch).to_dict()["tests"]
        statuses = summary_statuses(tests["log"])
        assert {t: statuses.get(t) for t in task.FAIL_TO_PASS} == dict.fromkeys(
            task.FAIL_TO_PASS, fail_to_pass
        )
        assert {t: statuses.get(t) for t in task.PASS_TO_PASS} == dict.fromkeys(
            task.PASS_TO_PASS, "PASSED"
        )
        assert tests["log_truncated"] is False and tests["log_cap_bytes"] == LOG_CAP_BYTES


def test_a_capped_log_says_so_and_keeps_the_summary(tmp_path):
    (tmp_path / "test_noisy.py").write_text(
        "def test_noisy():\n    print('x' * 100_000)\n    assert False\n\n"
        "def test_quiet():\n    pass\n"
    )
    run = run_tests(tmp_path, ["test_noisy.py"], timeout_s=60, log_cap_bytes=8192)
    assert run.tests == {
        "test_noisy.py::test_noisy": "failed",
        "test_noisy.py::test_quiet": "passed",
    }
    tests = run.to_dict()
    assert tests["log_truncated"] is True and tests["log_cap_bytes"] == 8192
    assert "bytes elided" in tests["log"] and len(tests["log"]) < 8192 + 100
    assert summary_statuses(tests["log"]) == {
        "test_noisy.py::test_noisy": "FAILED",
        "test_noisy.py::test_quiet": "PASSED",
    }
