"""The pytest source: a project's own test suite, traced call by call.

A small project written here pins the exact behaviour (what opens a trace,
what is inline, what is opaque, the bound, the input text, hostile tests);
inflection, fetched from PyPI once, shows it on a real library.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from opencwm.data.pytest_source import (
    PytestRun,
    SourceError,
    fetch_project,
    pytest_traces,
    run_pytest,
)
from opencwm.data.pytest_source import project as project_mod
from opencwm.sandbox.pool import Sandbox
from opencwm.trace.cwm import from_cwm, to_cwm
from opencwm.trace.source import source_lines, strip_marker
from opencwm.trace.tokens import TRACE_MARKER

CORE = """\
import functools
import time

from mypkg.other import double


def add(a, b):
    return a + b


def total(xs):
    s = 0
    for x in xs:
        s = add(s, x)
    return s


def scaled(xs, k=2):
    return [double(x) * k for x in xs]


def fail(n):
    if n < 0:
        raise ValueError("negative")
    return n


def options(a, *rest, flag=False, **extra):
    return a, rest, flag, extra


def deco(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)

    return wrapper


@deco
def decorated(x):
    return x + 1


def apply(f, x):
    return f(x)


class Counter:
    def __init__(self, start=0):
        self.n = start

    def bump(self, by=1):
        self.n += by
        return self.n


def describe(f):
    return str(f)


def gen(n):
    yield from range(n)


def spin():
    n = 0
    while True:
        n += 1


def nap():
    time.sleep(60)
"""

OTHER = """\
def double(x):
    return 2 * x
"""

TESTS = """\
import sys

import pytest

from mypkg import core, other


def test_add():
    for i in range(5):
        assert core.add(i, 1) == i + 1


def test_total():
    assert core.total([1, 2, 3]) == 6


def test_scaled():
    assert core.scaled([1, 2]) == [4, 8]


def test_fail():
    with pytest.raises(ValueError):
        core.fail(-1)


def test_a_failing_test_does_not_stop_the_run():
    assert core.fail(1) == 2


def test_other_file():
    assert other.double(3) == 6


def test_options():
    assert core.options(1, 2, 3, flag=True, extra=[4]) == (1, (2, 3), True, {"extra": [4]})


def test_decorated():
    assert core.decorated(1) == 2


def test_callback_into_the_file():
    assert core.apply(lambda x: core.add(x, 10), 1) == 11


def test_objects():
    c = core.Counter()
    assert c.bump(2) == 2


def test_describe():
    assert "lambda" in core.describe(lambda: 0)


def test_generators_are_not_entries():
    assert list(core.gen(3)) == [0, 1, 2]


def test_settrace_is_refused():
    with pytest.raises(RuntimeError):
        sys.settrace(None)
"""


def write_project(root: Path, tests: str = TESTS, extra: dict[str, str] | None = None) -> Path:
    files = {
        "mypkg/__init__.py": "",
        "mypkg/core.py": CORE,
        "mypkg/other.py": OTHER,
        "tests/test_core.py": tests,
        **(extra or {}),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture(scope="module")
def box():
    sb = Sandbox(size=1, preload=("opencwm.data.pytest_source.job", "pytest"))
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, box) -> PytestRun:
    root = write_project(tmp_path_factory.mktemp("synthetic"))
    return run_pytest(root, "mypkg", timeout_s=60, sandbox=box)


def by_function(run: PytestRun) -> dict[str, list[dict]]:
    out = collections.defaultdict(list)
    for item in run.traces:
        out[item["id"].rsplit(":", 1)[0]].append(item)
    return out


def marked_line(context: str) -> int:
    lines = source_lines(context)
    (line,) = [i for i, text in enumerate(lines, 1) if strip_marker(text) != text]
    return line


def args_of(input_text: str) -> tuple[tuple, dict]:
    return eval(f"(lambda *a, **k: (a, k))({input_text})")


# -- the synthetic project ------------------------------------------------------


def test_the_suite_runs_to_the_end_despite_a_failing_test(synthetic):
    assert synthetic.reason == ""
    assert synthetic.outcomes == {"passed": 12, "failed": 1}, synthetic.errors
    assert synthetic.exit_code == 1


def test_calls_from_tests_open_traces_bounded_per_function(synthetic):
    functions = by_function(synthetic)
    assert sorted(functions) == [
        "mypkg:mypkg.core:Counter.__init__",
        "mypkg:mypkg.core:Counter.bump",
        "mypkg:mypkg.core:add",
        "mypkg:mypkg.core:apply",
        "mypkg:mypkg.core:deco.<locals>.wrapper",
        "mypkg:mypkg.core:describe",
        "mypkg:mypkg.core:fail",
        "mypkg:mypkg.core:options",
        "mypkg:mypkg.core:scaled",
        "mypkg:mypkg.core:total",
        "mypkg:mypkg.other:double",
    ]
    adds = functions["mypkg:mypkg.core:add"]
    # five calls, three traces; the calls total() makes from inside do not count
    assert [a["id"] for a in adds] == [f"mypkg:mypkg.core:add:{k}" for k in range(3)]
    assert [a["input"] for a in adds] == ["0, 1", "1, 1", "2, 1"]


def test_a_trace_starts_at_the_marked_def_line_and_ends_with_the_return(synthetic):
    item = by_function(synthetic)["mypkg:mypkg.core:add"][0]
    trace = item["trace"]
    line = marked_line(item["code"])
    assert source_lines(item["code"])[line - 1] == f"def add(a, b):  {TRACE_MARKER}"
    assert [(f.event, f.line, f.depth) for f in trace.frames] == [
        ("call", line, 0),
        ("line", line + 1, 0),
        ("return", line + 1, 0),
    ]
    assert trace.frames[0].locals == {"a": "0", "b": "1"}
    assert (trace.status, trace.result, item["entry"]) == ("returned", "1", "add")


def test_same_file_calls_are_inline_and_other_files_opaque(synthetic):
    functions = by_function(synthetic)
    total = functions["mypkg:mypkg.core:total"][0]["trace"]
    calls = [(f.func, f.depth) for f in total.frames if f.event == "call"]
    assert calls == [("total", 0), ("add", 1), ("add", 1), ("add", 1)]
    assert total.result == "6"
    scaled = functions["mypkg:mypkg.core:scaled"][0]["trace"]
    assert {f.func for f in scaled.frames} == {"scaled", "<listcomp>"}  # double() is opaque
    assert scaled.result == "[4, 8]"
    double = functions["mypkg:mypkg.other:double"][0]
    assert double["code"].startswith(f"def double(x):  {TRACE_MARKER}\n")
    assert double["input"] == "3"


def test_a_callback_from_test_code_back_into_the_file_is_traced_inline(synthetic):
    trace = by_function(synthetic)["mypkg:mypkg.core:apply"][0]["trace"]
    calls = [(f.func, f.depth) for f in trace.frames if f.event == "call"]
    assert calls == [("apply", 0), ("add", 1)]  # the test's lambda is opaque
    assert trace.result == "11"


def test_an_exception_is_a_raised_trace(synthetic):
    trace = by_function(synthetic)["mypkg:mypkg.core:fail"][0]["trace"]
    assert trace.status == "raised"
    assert trace.frames[-1].event == "exception"
    assert trace.result == "ValueError('negative')"


def test_input_is_the_real_arguments_when_they_are_literals(synthetic):
    functions = by_function(synthetic)
    options = functions["mypkg:mypkg.core:options"][0]
    assert options["input"] == "1, 2, 3, flag=True, extra=[4]"
    assert args_of(options["input"]) == ((1, 2, 3), {"flag": True, "extra": [4]})
    # `self` is no literal: no input
    assert functions["mypkg:mypkg.core:Counter.bump"][0]["input"] == ""


def test_addresses_are_numbered_in_values_and_in_returned_strings(synthetic):
    trace = by_function(synthetic)["mypkg:mypkg.core:describe"][0]["trace"]
    shown = "<function test_describe.<locals>.<lambda> at 0x1>"
    assert trace.frames[0].locals == {"f": shown}
    assert trace.result == repr(shown)


def test_decorated_functions_start_at_their_def_line(synthetic):
    item = by_function(synthetic)["mypkg:mypkg.core:deco.<locals>.wrapper"][0]
    lines = source_lines(item["code"])
    trace = item["trace"]
    calls = [f for f in trace.frames if f.event == "call"]
    assert [c.func for c in calls] == ["wrapper", "decorated"]
    assert lines[calls[0].line - 1].strip().startswith("def wrapper(*args):")
    assert lines[calls[1].line - 1] == "def decorated(x):"
    assert trace.result == "2"


def test_generators_and_imports_open_no_trace(synthetic):
    entries = {item["entry"] for item in synthetic.traces}
    assert "gen" not in entries and "<module>" not in entries and "deco" not in entries


def test_ids_are_stable_from_run_to_run(synthetic, tmp_path, box):
    root = write_project(tmp_path)
    again = list(pytest_traces(root, "mypkg", timeout_s=60, sandbox=box))
    assert [i["id"] for i in again] == [i["id"] for i in synthetic.traces]
    assert [to_cwm(i["trace"]) for i in again] == [to_cwm(i["trace"]) for i in synthetic.traces]


# -- hostile test suites ------------------------------------------------------


def test_a_hanging_test_keeps_what_was_traced_before_the_timeout(tmp_path, box):
    tests = (
        "from mypkg import core\n\n"
        "def test_first():\n    assert core.add(1, 2) == 3\n\n"
        "def test_hang():\n    while True:\n        pass\n\n"
        "def test_never():\n    core.total([1])\n"
    )
    start = time.monotonic()
    run = run_pytest(write_project(tmp_path, tests), "mypkg", timeout_s=3, sandbox=box)
    assert time.monotonic() - start < 15
    assert "timed out" in run.reason
    assert [i["id"] for i in run.traces] == ["mypkg:mypkg.core:add:0"]
    assert run.traces[0]["trace"].status == "returned"


def test_a_call_that_hangs_is_cut_at_the_frame_limit_then_the_run_times_out(tmp_path, box):
    tests = "from mypkg import core\n\ndef test_spin():\n    core.spin()\n"
    run = run_pytest(
        write_project(tmp_path, tests), "mypkg", timeout_s=3, max_frames=50, sandbox=box
    )
    (item,) = run.traces
    assert item["trace"].status == "truncated"
    assert item["trace"].reason == "frame limit reached (50 frames)"
    assert len(item["trace"].frames) == 50
    assert "timed out" in run.reason


def test_a_call_open_at_the_timeout_is_truncated_with_its_frames(tmp_path, box):
    tests = "from mypkg import core\n\ndef test_nap():\n    core.nap()\n"
    run = run_pytest(write_project(tmp_path, tests), "mypkg", timeout_s=2, sandbox=box)
    (item,) = run.traces
    trace = item["trace"]
    assert trace.status == "truncated" and "timed out" in trace.reason
    assert [f.event for f in trace.frames] == ["call", "line"]


def test_a_test_that_kills_the_process_keeps_earlier_traces(tmp_path, box):
    tests = (
        "import os\nfrom mypkg import core\n\n"
        "def test_first():\n    assert core.add(1, 2) == 3\n\n"
        "def test_exit():\n    os._exit(3)\n"
    )
    run = run_pytest(write_project(tmp_path, tests), "mypkg", timeout_s=30, sandbox=box)
    assert [i["id"] for i in run.traces] == ["mypkg:mypkg.core:add:0"]
    assert run.reason == "process exited with code 3 before finishing"


def test_missing_test_dependencies_show_as_collection_errors(tmp_path, box):
    tests = "import no_such_module_anywhere\n\ndef test_x():\n    pass\n"
    run = run_pytest(write_project(tmp_path, tests), "mypkg", timeout_s=30, sandbox=box)
    assert run.traces == []
    assert any("no_such_module_anywhere" in e for e in run.errors), run.errors


# -- projects that cannot be traced ----------------------------------------------


def test_a_project_without_tests_is_refused(tmp_path):
    write_project(tmp_path)
    (tmp_path / "tests" / "test_core.py").unlink()
    with pytest.raises(SourceError, match="has no tests"):
        project_mod.layout(tmp_path, "mypkg")


def test_a_missing_package_names_what_was_found(tmp_path):
    write_project(tmp_path)
    with pytest.raises(SourceError, match=r"'nope' not found .* found: mypkg"):
        project_mod.layout(tmp_path, "nope")


def test_a_pypi_name_finds_its_import_name(tmp_path):
    (tmp_path / "src" / "dateutil").mkdir(parents=True)
    (tmp_path / "src" / "dateutil" / "__init__.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_parser.py").write_text("")
    assert project_mod.layout(tmp_path, "python-dateutil").package_path == "src/dateutil"
    (tmp_path / "src" / "dateutil").rename(tmp_path / "src" / "yaml")
    with pytest.raises(SourceError, match="not found"):
        project_mod.layout(tmp_path, "PyYAML")
    (tmp_path / "PyYAML.egg-info").mkdir()
    (tmp_path / "PyYAML.egg-info" / "top_level.txt").write_text("_yaml\nyaml\n")
    assert project_mod.layout(tmp_path, "PyYAML").package_path == "src/yaml"


def test_layouts_and_test_paths(tmp_path):
    (tmp_path / "src" / "pkg" / "tests").mkdir(parents=True)
    for rel in ("src/pkg/__init__.py", "src/pkg/tests/test_a.py", "test_top.py", "setup.py"):
        (tmp_path / rel).write_text("")
    where = project_mod.layout(tmp_path, "pkg")
    assert (where.import_root, where.package_path) == ("src", "src/pkg")
    assert where.tests == ("src/pkg/tests", "test_top.py")
    assert where.is_package_file("src/pkg/__init__.py")
    assert not where.is_package_file("src/pkg/tests/test_a.py")
    assert where.module_name("src/pkg/__init__.py") == "pkg"


# -- a real library -------------------------------------------------------------

SDISTS = Path.home() / ".cache" / "opencwm" / "sdists"


@pytest.fixture(scope="session")
def inflection_project() -> Path:
    try:
        return fetch_project("inflection==0.5.1", SDISTS)
    except SourceError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"PyPI not reachable: {exc}")
        raise


@pytest.fixture(scope="module")
def inflection(inflection_project, box) -> PytestRun:
    return run_pytest(inflection_project, "inflection", timeout_s=60, sandbox=box)


def test_fetch_reuses_the_download(inflection_project, monkeypatch):
    def no_network(*args):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(project_mod, "_download", no_network)
    assert fetch_project("inflection==0.5.1", SDISTS) == inflection_project


def test_inflection_suite_is_traced(inflection):
    assert inflection.reason == "" and "failed" not in inflection.outcomes, inflection.errors
    functions = by_function(inflection)
    assert "inflection:inflection:camelize" in functions
    assert max(len(v) for v in functions.values()) == 3  # the default bound, reached
    for item in inflection.traces:
        trace = item["trace"]
        assert trace.status == "returned", (item["id"], trace.reason)
        first = trace.frames[0]
        assert (first.event, first.line, first.depth) == ("call", marked_line(item["code"]), 0)
        assert item["code"] == trace.source and item["entry"] == first.func


def test_inflection_inputs_re_evaluate_to_the_recorded_arguments(inflection):
    camelize = by_function(inflection)["inflection:inflection:camelize"]
    for item in camelize:
        args, kwargs = args_of(item["input"])
        assert kwargs == {}
        shown = list(item["trace"].frames[0].locals.values())
        assert [repr(a) for a in args] == shown[: len(args)]
    assert all(item["input"] for item in inflection.traces)


def test_inflection_traces_survive_cwm_text(inflection):
    for item in inflection.traces:
        trace = item["trace"]
        back = from_cwm(to_cwm(trace))
        assert back.frames == trace.frames, item["id"]
        assert (back.status, back.entry) == (trace.status, trace.entry)
