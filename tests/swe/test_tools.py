"""Tool parsing (both spellings) and the host-side file tools, one property each."""

from __future__ import annotations

import os

import pytest

from opencwm.sandbox.result import Limits
from opencwm.swe.tools import (
    TOOL_NAMES,
    TOOL_SCHEMAS,
    FormatError,
    ToolCall,
    Tools,
    clean,
    parse_function_call,
    parse_text,
)

# -- the CWM text format ---------------------------------------------------------------


def test_parse_bash_keeps_the_whole_script():
    call = parse_text("Let me look.\n<tool: bash>\nls -la\ncat x | head\n</tool>\n")
    assert call == ToolCall("bash", {"command": "ls -la\ncat x | head"})


def test_parse_edit_in_cwm_format():
    text = (
        "<tool: edit>\nsrc/a.py\n<<<<<<< SEARCH\n    x = 1\n    y = 2\n=======\n"
        "    x = 2\n>>>>>>> REPLACE\n</tool>"
    )
    assert parse_text(text).args == {"path": "src/a.py", "search": "    x = 1\n    y = 2",
                                     "replace": "    x = 2"}  # fmt: skip


def test_parse_edit_with_an_empty_replacement_deletes():
    text = "<tool: edit>\na.py\n<<<<<<< SEARCH\nx = 1\n=======\n>>>>>>> REPLACE\n</tool>"
    assert parse_text(text).args["replace"] == ""


def test_parse_view_create_search_submit():
    assert parse_text("<tool: view>\na.py\n3-9\n</tool>").args == {"path": "a.py", "start": 3,
                                                                   "end": 9}  # fmt: skip
    assert parse_text("<tool: create>\nb.py\nx = 1\n</tool>").args == {
        "path": "b.py",
        "content": "x = 1\n",
    }
    assert parse_text("<tool: search>\ndef \\w+\nsrc\n</tool>").args == {
        "pattern": "def \\w+",
        "path": "src",
    }
    assert parse_text("<tool: submit>\n</tool>") == ToolCall("submit", {})
    assert parse_text("<tool: submit></tool>") == ToolCall("submit", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no tags at all", "no tool call found"),
        ("<tool: bash>\nls\n</tool><tool: bash>\npwd\n</tool>", "found 2 tool calls"),
        ("<tool: bash>\nls", "unbalanced tool tags"),
        ("<tool: bash>\necho '</tool>'\n</tool>", "unbalanced tool tags"),
        ("<tool: python>\n1\n</tool>", "unknown tool 'python'; known: bash"),
        ("<tool: view>\n\n</tool>", "needs a path"),
        ("<tool: view>\na.py\nlines 3 to 4\n</tool>", "line range"),
    ],
)
def test_malformed_text_actions(text, message):
    with pytest.raises(FormatError, match=message):
        parse_text(text)


# -- OpenAI function calls -----------------------------------------------------------------


def test_function_schemas_cover_every_tool():
    assert [s["function"]["name"] for s in TOOL_SCHEMAS] == list(TOOL_NAMES)


def test_parse_function_call_from_json_text():
    call = parse_function_call("edit", '{"path": "a.py", "search": "x", "replace": "y"}', "id1")
    assert call == ToolCall("edit", {"path": "a.py", "search": "x", "replace": "y"}, "id1")


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("rm", "{}", "unknown tool"),
        ("bash", "{not json", "not JSON"),
        ("bash", "[1]", "JSON object"),
        ("edit", '{"path": "a.py"}', "edit needs search, replace"),
    ],
)
def test_malformed_function_calls(name, arguments, message):
    with pytest.raises(FormatError, match=message):
        parse_function_call(name, arguments)


# -- the file tools ------------------------------------------------------------------------


@pytest.fixture
def tools(tmp_path):
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "a.py").write_text("x = 1\ny = 1\nz = 2\n")
    return Tools(ws, None, Limits(timeout_s=5))


def run(tools, name, **args):
    return tools.run(ToolCall(name, args))


def test_edit_must_match_exactly_once(tools):
    assert "occurs 2 times" in run(tools, "edit", path="pkg/a.py", search="= 1", replace="").output
    assert "does not occur" in run(tools, "edit", path="pkg/a.py", search="w", replace="").output
    ok = run(tools, "edit", path="/workspace/pkg/a.py", search="z = 2", replace="z = 3")
    assert ok.ok and (tools.workspace / "pkg/a.py").read_text().endswith("z = 3\n")


def test_create_refuses_existing_files_and_missing_folders(tools):
    assert "exists already" in run(tools, "create", path="pkg/a.py", content="").output
    assert "folder does not exist" in run(tools, "create", path="no/b.py", content="").output
    assert run(tools, "create", path="pkg/b.py", content="b = 1\n").ok


def test_view_numbers_lines_and_lists_folders(tools):
    out = run(tools, "view", path="pkg/a.py", start=2, end=2).output
    assert out.startswith("     2\ty = 1") and "[lines 2-2 of 3]" in out
    assert run(tools, "view", path=".").output == "pkg/"


def test_paths_outside_the_workspace_are_refused(tools, tmp_path):
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", tools.workspace / "link")
    for path in ("/etc/passwd", "../secret", "link", "pkg/../../secret"):
        result = run(tools, "view", path=path)
        assert not result.ok and result.output != "s", path


def test_special_files_are_not_opened(tools):
    os.mkfifo(tools.workspace / "fifo")
    assert "not a regular file" in run(tools, "view", path="fifo").output


def test_search_lists_matches_with_line_numbers(tools):
    assert run(tools, "search", pattern=r"^y =").output == "pkg/a.py:2: y = 1"
    assert "bad regex" in run(tools, "search", pattern="(").output


def test_clean_removes_escapes_and_control_bytes():
    assert clean(b"\x1b[31mred\x1b[0m\x00ok\r\n\xff") == "red\ufffdok\n\ufffd"
