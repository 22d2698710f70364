"""The OpenAI completions API of `opencwm serve`, in process, over the
scripted fake: request fields, stops, and the 400s of bad requests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opencwm.world.fake import ScriptedBackend
from opencwm.world.serve import create_app

FRAME = '<|line_sep|>{"a": "1"}<|action_sep|>x = 1\n<|frame_sep|>'


def client(*replies: str, context_tokens: int = 1000) -> tuple[TestClient, ScriptedBackend]:
    backend = ScriptedBackend(replies, context_tokens=context_tokens)
    return TestClient(create_app(backend, "fake")), backend


def test_health_and_models():
    c, _ = client()
    assert c.get("/health").json() == {"status": "ok"}
    (card,) = c.get("/v1/models").json()["data"]
    assert (card["id"], card["max_model_len"]) == ("fake", 1000)


def test_a_completion_ends_with_the_stop_token_kept():
    c, backend = client(FRAME + "more text")
    body = {"model": "fake", "prompt": "P", "max_tokens": 200, "temperature": 0, "seed": 3}
    r = c.post("/v1/completions", json=body).json()
    (choice,) = r["choices"]
    assert choice["text"] == FRAME and choice["finish_reason"] == "stop"
    assert choice["stop_reason"] == "<|frame_sep|>" and r["object"] == "text_completion"
    assert backend.prompts == ["P"]
    s = backend.samplings[0]
    assert (s.temperature, s.top_p, s.seed, s.max_tokens) == (0, 1.0, 3, 200)


def test_length_stop_strings_and_echo():
    c, _ = client(FRAME, FRAME, FRAME)
    r = c.post("/v1/completions", json={"prompt": "P", "max_tokens": 5}).json()
    assert r["choices"][0] == {
        "index": 0,
        "text": FRAME[:5],
        "logprobs": None,
        "finish_reason": "length",
        "stop_reason": None,
    }
    body = {"prompt": "P", "max_tokens": 100, "stop": ["<|action_sep|>"]}
    assert (
        c.post("/v1/completions", json=body).json()["choices"][0]["text"] == FRAME.split("x = 1")[0]
    )
    body |= {"include_stop_str_in_output": False, "echo": True}
    choice = c.post("/v1/completions", json=body).json()["choices"][0]
    assert choice["text"] == "P" + FRAME.split("<|action_sep|>")[0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == "<|action_sep|>"


def test_max_tokens_is_cut_to_the_room_left():
    c, backend = client(FRAME, context_tokens=10)
    c.post("/v1/completions", json={"prompt": "P" * 7, "max_tokens": 100})
    assert backend.samplings[0].max_tokens == 3


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"max_tokens": 3}, 400, "prompt: Field required"),
        ({"prompt": "P", "max_tokens": 0}, 400, "max_tokens"),
        ({"prompt": "P", "temperature": -1}, 400, "temperature"),
        ({"prompt": "P", "top_p": 0}, 400, "top_p"),
        ({"prompt": ""}, 400, "non-empty"),
        ({"prompt": [1, 2, 3]}, 400, "prompt"),
        ({"prompt": "P", "stream": True}, 400, "stream=True is not supported"),
        ({"prompt": "P", "n": 2}, 400, "n=2"),
        ({"prompt": "P", "logprobs": 5}, 400, "logprobs"),
        ({"prompt": "P", "skip_special_tokens": True}, 400, "skip_special_tokens"),
        ({"prompt": "P" * 20}, 400, "the prompt is 20 tokens; this model reads at most 10"),
        ({"prompt": "P", "model": "gpt-4"}, 404, "known: fake"),
    ],
)
def test_bad_requests_get_a_json_error(body, status, says):
    c, backend = client(FRAME, context_tokens=10)
    r = c.post("/v1/completions", json=body)
    assert r.status_code == status
    assert says in r.json()["error"]["message"], r.json()
    assert backend.prompts == []


def test_a_body_that_is_not_json():
    c, _ = client()
    r = c.post("/v1/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_a_backend_crash_is_a_json_500():
    class Broken(ScriptedBackend):
        def complete(self, prompt, sampling):
            raise RuntimeError("out of memory\nand more")

    app = create_app(Broken([]), "fake")
    r = TestClient(app, raise_server_exceptions=False).post("/v1/completions", json={"prompt": "P"})
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "RuntimeError: out of memory"


@pytest.mark.parametrize("seed", [99999999999999999999999, 2**63, -(2**63) - 1])
def test_a_seed_past_64_bits_is_a_400_not_a_crash(seed):
    c, backend = client(FRAME)
    r = c.post("/v1/completions", json={"prompt": "P", "seed": seed})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "seed" and "seed" in r.json()["error"]["message"]
    assert backend.prompts == []
    assert c.post("/v1/completions", json={"prompt": "P", "seed": 2**63 - 1}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/v1/nope", {}, 404, "no route POST /v1/nope; known:"),
        ("GET", "/v1/completions", None, 405, "GET /v1/completions is not allowed; use POST"),
        ("GET", "/v1/chat/completions", None, 405, "use POST"),
        ("POST", "/v1/models", {}, 405, "use GET"),
        ("POST", "/v1/completions", {"prompt": "P", "top_p": 2}, 400, "top_p"),
        ("POST", "/v1/chat/completions", {"messages": []}, 400, "messages"),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "x"}]}, 400, "role"),
        ("POST", "/v1/completions", {"prompt": "P"}, 500, "RuntimeError: out of memory"),
    ],
)
def test_every_error_is_the_openai_error_body(method, path, body, status, says):
    class Broken(ScriptedBackend):
        def complete(self, prompt, sampling):
            raise RuntimeError("out of memory\nand more")

    c = TestClient(create_app(Broken([]), "fake"), raise_server_exceptions=False)
    r = c.request(method, path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(r.json()) == {"error"} and set(error) == {"message", "type", "param", "code"}
    assert says in error["message"] and error["code"] == status
    kind = "server_error" if status == 500 else "invalid_request_error"
    assert error["type"] == kind


def test_chat_renders_the_plain_template_and_cuts_the_next_header():
    reply = "<tool: bash>\nls\n</tool>\n=== user ===\nmore" + FRAME
    c, backend = client(reply, context_tokens=10_000)
    messages = [
        {"role": "system", "content": "S"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "U1"}, {"type": "text", "text": "!"}],
        },
        {"role": "assistant", "content": "A"},
        {"role": "tool", "content": "T", "tool_call_id": "c1"},
    ]
    r = c.post("/v1/chat/completions", json={"model": "fake", "messages": messages, "seed": 1})
    assert r.status_code == 200, r.text
    (choice,) = r.json()["choices"]
    assert choice["message"]["content"] == "<tool: bash>\nls\n</tool>"
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == "\n=== "
    assert backend.prompts == [
        "<|begin_of_text|>=== system ===\nS\n=== user ===\nU1!\n=== assistant ===\nA\n"
        "=== tool ===\nT\n=== assistant ===\n"
    ]
    assert backend.samplings[0].max_tokens == 10_000 - len(backend.prompts[0])  # the room left
    usage = r.json()["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (
        len(backend.prompts[0]),
        len(reply),  # all it decoded: the header and what follows are cut after
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools="),
        ({"stream": True}, "stream=True"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_chat_refuses_what_it_does_not_do(extra, says):
    c, backend = client(FRAME)
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and says in r.json()["error"]["message"], r.text
    assert backend.prompts == []


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ({"regex": "a+"}, "structured_outputs.regex is not supported here; only choice"),
        ({"choice": ["a\n", "a\nb\n"]}, "'a\\n' begins 'a\\nb\\n'"),
        ({"choice": []}, "non-empty strings"),
        ("a|b", "give an object"),
    ],
)
def test_structured_outputs_other_than_a_choice_are_refused(asked, says):
    c, backend = client(FRAME)
    r = c.post("/v1/completions", json={"prompt": "P", "structured_outputs": asked})
    assert r.status_code == 400 and says in r.json()["error"]["message"], r.text
    assert r.json()["error"]["param"] == "structured_outputs" and backend.prompts == []


def test_a_choice_reaches_the_backend():
    c, backend = client(FRAME)
    asked = {"choice": ["b\n", "a\n"], "disable_fallback": False}
    assert c.post("/v1/completions", json={"prompt": "P", "structured_outputs": asked}).is_success
    assert backend.samplings[0].choice == ("a\n", "b\n")
