"""The web debugger's API (FastAPI TestClient) and its page's promises:
every command, the errors, and nothing loaded from elsewhere."""

from __future__ import annotations

import re

import pytest
from debug_oracle import FlakyBackend, OracleBackend
from fastapi.testclient import TestClient
from sample_programs import NESTED

from opencwm.debug.session import Session
from opencwm.debug.web import create_app
from opencwm.tracer.api import trace_program
from opencwm.world.fake import ScriptedBackend, replay_replies


@pytest.fixture(scope="module")
def real(sandbox):
    return trace_program(NESTED, "squares", "[2, 3]", sandbox=sandbox)


def client_for(backend, sandbox) -> TestClient:
    session = Session(NESTED, "squares", "[2, 3]", backend=backend, sandbox=sandbox)
    return TestClient(create_app(session, "prog.py :: squares([2, 3])"))


def post(c: TestClient, path: str, body: dict | None = None, status: int = 200) -> dict:
    r = c.post(f"/api/{path}", json=body) if body is not None else c.post(f"/api/{path}")
    assert r.status_code == status, r.text
    return r.json()


def test_the_page_is_one_self_contained_file(real, sandbox):
    html = client_for(OracleBackend(real), sandbox).get("/").text
    assert 'id="step"' in html and 'id="edit-value"' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no CDN, nothing from elsewhere
    assert "http://" not in html and "https://" not in html


def test_state_and_every_command(real, sandbox):
    c = client_for(OracleBackend(real), sandbox)
    s = c.get("/api/state").json()["state"]
    assert s["title"] == "prog.py :: squares([2, 3])" and s["world"] == "imagined"
    assert s["lines"][4] == "def squares(xs):" and s["current"] == 0
    assert s["frames"][0]["event"] == "call" and s["locals"] == {"xs": "[2, 3]"}
    s = post(c, "step")["state"]
    assert s["current"] == 1 and s["frames"][1]["line"] == 6
    post(c, "step")
    s = post(c, "step")["state"]
    assert s["frames"][-1]["changed"] == ["x"] and s["stack"][-1]["line"] == 8
    s = post(c, "next")["state"]
    assert [(f["event"], f["line"]) for f in s["frames"][-3:]] == [
        ("call", 1),
        ("return", 2),
        ("line", 7),
    ]
    assert s["locals"]["out"] == "[4]"
    assert post(c, "break", {"line": "2"})["message"] == "breakpoint at line 2"
    answer = post(c, "continue")
    assert answer["message"] == "breakpoint at line 2" and answer["state"]["breakpoints"] == [2]
    assert [e["func"] for e in answer["state"]["stack"]] == ["squares", "sq"]
    s = post(c, "out")["state"]
    assert s["frames"][-1]["arg"] == "9"
    assert post(c, "clear", {"line": "2"})["state"]["breakpoints"] == []
    post(c, "step")
    answer = post(c, "set", {"name": "out", "expr": "[1,2]"})
    assert answer["message"] == "out = [1, 2]" and answer["state"]["locals"]["out"] == "[1, 2]"
    assert post(c, "back")["message"] == "undid the last edit"
    answer = post(c, "truth", {"on": True})
    assert answer["message"].startswith("truth on: the real run returned [4, 9]")
    f = answer["state"]["frames"][-1]
    assert f["real"]["locals"] == f["locals"] and f["disagree"]["any"] is False
    answer = post(c, "continue")
    assert answer["message"] == "returned [4, 9]" and answer["state"]["ended"]
    answer = post(c, "reset", {"input": "[5]"})
    assert answer["message"] == "started again on squares([5])"
    assert answer["state"]["input"] == "[5]" and len(answer["state"]["frames"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("break", {"line": "99"}, "line 99 is outside the program"),
        ("clear", {"line": "2"}, "no breakpoint at line 2"),
        ("set", {"name": "xs", "expr": "open('x')"}, "is not a Python literal"),
        ("set", {"name": "not a name", "expr": "1"}, "is not a variable name"),
        ("back", None, "at the first frame"),
        ("reset", {"input": "1,,"}, "bad input"),
    ],
)
def test_refused_commands_are_400_with_one_line(real, sandbox, path, body, error):
    c = client_for(OracleBackend(real), sandbox)
    answer = post(c, path, body, status=400)
    assert error in answer["error"] and "\n" not in answer["error"]
    assert c.get("/api/state").json()["state"]["current"] == 0


def test_malformed_bodies_are_refused_by_validation(real, sandbox):
    c = client_for(OracleBackend(real), sandbox)
    assert c.post("/api/set", json={"name": "x"}).status_code == 422
    assert c.post("/api/truth", content=b"not json").status_code == 422


def test_a_failing_backend_is_503_and_the_retry_works(real, sandbox):
    c = client_for(FlakyBackend(OracleBackend(real), failures=1), sandbox)
    answer = post(c, "step", status=503)
    assert (
        answer["retry"] is True and "did not answer within 5s; nothing changed" in answer["error"]
    )
    assert post(c, "step")["state"]["current"] == 1


def test_an_invalid_frame_is_in_the_state_with_its_raw_text(real, sandbox):
    c = client_for(ScriptedBackend(["<|line_sep|>{oops", *replay_replies(real)]), sandbox)
    s = post(c, "step")["state"]
    assert s["invalid"]["raw"] == "<|line_sep|>{oops" and s["current"] == 0
    s = post(c, "step")["state"]
    assert s["invalid"] is None and s["current"] == 1


def test_truth_disagreements_are_in_the_state(real, sandbox):
    replies = replay_replies(real)
    replies[1] = replies[1].replace('"[]"', '"[0]"')
    c = client_for(ScriptedBackend(replies), sandbox)
    post(c, "truth", {"on": True})
    post(c, "step")
    f = post(c, "step")["state"]["frames"][-1]
    assert f["disagree"] == {
        "any": True,
        "event": False,
        "line": False,
        "names": ["out"],
        "arg": False,
    }
    assert f["real"]["locals"]["out"] == "[]" and f["locals"]["out"] == "[0]"
