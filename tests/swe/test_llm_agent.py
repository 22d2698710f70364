"""The LLM agent against a real OpenAI-compatible server on 127.0.0.1.

The server (FastAPI under uvicorn, in a thread) replays scripted replies
and records what it was sent, so the test sees the exact HTTP exchange a
vLLM or OpenAI endpoint would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from opencwm.swe.agents import LLMAgent, ModelError, OpenAIModel, hunks
from opencwm.swe.runner import run_episode

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


class ReplayServer:
    """POST /v1/chat/completions answers the next scripted message."""

    def __init__(self) -> None:
        self.script: list[dict] = []
        self.requests: list[dict] = []
        app = fastapi.FastAPI()

        @app.get("/v1/models")
        def models() -> dict:
            return {"object": "list", "data": [{"id": "replay", "object": "model"}]}

        @app.post("/v1/chat/completions")
        def chat(body: dict) -> dict:
            self.requests.append(body)
            message = self.script.pop(0) if self.script else {"content": "<tool: submit>\n</tool>"}
            return {
                "id": f"cmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": None, **message}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }  # fmt: skip

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the replay server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


@pytest.fixture
def model(server):
    m = OpenAIModel(server.url, "replay")
    yield m
    m.close()


def gold_edit(task) -> tuple[str, str, str]:
    path = task.meta["path"]
    old, new = hunks(task.patch)[0]
    return path, old, new


def test_text_agent_fixes_a_task_through_the_server(server, model, numbers_task, make_env):
    path, old, new = gold_edit(numbers_task)
    server.script = [
        {"content": "Let me look first.\n<tool: view>\n" + path + "\n</tool>"},
        {"content": "no tool this time"},
        {
            "content": f"<tool: edit>\n{path}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n"
            ">>>>>>> REPLACE\n</tool>"
        },
        {"content": "<tool: bash>\npython -m pytest -q tests 2>&1 | tail -1\n</tool>"},
        {"content": "<tool: submit>\n</tool>"},
    ]
    traj = run_episode(make_env(), LLMAgent(model), numbers_task, "llm")
    assert traj["resolved"] and traj["reward"] == 1.0, traj.get("verdict")
    assert [t.get("tool") for t in traj["turns"]] == ["view", None, "edit", "bash", "submit"]
    assert "no tool call found" in traj["turns"][1]["format_error"]
    first, last = server.requests[0], server.requests[-1]
    assert first["model"] == "replay" and "tools" not in first
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "<tool: bash>" in first["messages"][0]["content"]
    assert len(last["messages"]) == 2 + 2 * 4  # each turn: our reply, then its observation
    assert "Format error" in last["messages"][5]["content"]


def test_function_calling_agent_gets_tool_results_by_call_id(server, model, numbers_task, make_env):
    import json

    path, old, new = gold_edit(numbers_task)

    def call(i: int, name: str, args: str) -> dict:
        return {"tool_calls": [{"id": f"call_{i}", "type": "function",
                                "function": {"name": name, "arguments": args}}]}  # fmt: skip

    server.script = [
        call(0, "bash", json.dumps({"command": "ls"})),
        call(1, "edit", json.dumps({"path": path, "search": old, "replace": new})),
        call(2, "submit", "{}"),
    ]
    traj = run_episode(make_env(), LLMAgent(model, "functions"), numbers_task, "llm")
    assert traj["resolved"], traj.get("verdict")
    second = server.requests[1]
    assert second["tools"][0]["function"]["name"] == "bash"
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_0"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_0",
        "content": second["messages"][-1]["content"],
    }
    assert "tinylib" in second["messages"][-1]["content"]


def free_port() -> int:
    """A localhost port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_endpoint_is_one_clear_line(built):
    port = free_port()  # nothing listens here once the socket closes
    model = OpenAIModel(f"http://127.0.0.1:{port}", "m", timeout_s=5)
    with pytest.raises(ModelError, match=r"cannot reach http://127.0.0.1:\d+/v1.*server running"):
        model.ping()
    with pytest.raises(ModelError, match="cannot reach") as err:
        model.chat([{"role": "user", "content": "hi"}])
    model.close()
    assert "\n" not in str(err.value)
    r = subprocess.run(
        [sys.executable, "-m", "opencwm", "swe", "run", "--tasks", str(built[2] / "tasks.jsonl"),
         "--agent", "llm", "--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "m"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


def test_http_errors_and_non_completions_are_model_errors(server):
    model = OpenAIModel(server.url.replace("/v1", "/nope"), "m")
    with pytest.raises(ModelError, match="HTTP 404"):
        model.chat([{"role": "user", "content": "hi"}])
    model.close()


@pytest.fixture(scope="module")
def wide_micro_model(tmp_path_factory) -> Path:
    """A micro `CwmForCausalLM`, untrained, with a 4096-token window: room for
    the SWE prompt and two turns. Its replies are noise; the test is the road."""
    import torch
    from transformers import CwmForCausalLM

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import train_tokenizer
    from opencwm.swe.prompts import TEXT_TOOLS

    out = tmp_path_factory.mktemp("wide-micro")
    tok = train_tokenizer([TEXT_TOOLS] * 4, vocab_size=400)
    config = cwm_config("micro", tok)
    config.max_position_embeddings = config.sliding_window = 4096
    torch.manual_seed(0)
    CwmForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_swe_run_drives_opencwm_serve_through_chat(built, wide_micro_model, tmp_path):
    """`opencwm swe run --agent llm --endpoint <opencwm serve>/v1`: every turn
    is a chat completion of our own server (plain template), and the
    episode ends by its turn budget, graded, with no HTTP error."""
    import json
    import os

    import httpx

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "opencwm", "serve", str(wide_micro_model), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"opencwm serve did not start: {log.read_text()}")
        trajectories, tasks = tmp_path / "runs.jsonl", built[2] / "tasks.jsonl"
        r = subprocess.run(
            [sys.executable, "-m", "opencwm", "swe", "run", "--tasks", str(tasks),
             "--agent", "llm", "--endpoint", f"http://127.0.0.1:{port}/v1",
             "--model", wide_micro_model.name, "--limit", "1", "--max-turns", "2",
             "--reply-tokens", "24", "--out", str(trajectories)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    assert r.returncode == 0, r.stderr
    (traj,) = [json.loads(line) for line in trajectories.read_text().splitlines()]
    assert traj["error"] == "" and traj["ended"] == "turn budget exhausted", traj["error"]
    assert len(traj["turns"]) == 2 and "verdict" in traj
    served = log.read_text()
    assert served.count('"POST /v1/chat/completions HTTP/1.1" 200') == 2, served


def test_an_openai_error_body_becomes_its_one_line_message():
    """A conversation that outgrows the server's window: the agent's error
    says so in the server's words, not as a quoted JSON body."""
    from opencwm.world.fake import ScriptedBackend
    from opencwm.world.serve import create_app

    port = free_port()
    app = create_app(ScriptedBackend([], context_tokens=50), "small")
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    model = OpenAIModel(f"http://127.0.0.1:{port}/v1", "small", timeout_s=10)
    try:
        with pytest.raises(ModelError) as err:
            model.chat([{"role": "user", "content": "x" * 100}])
    finally:
        model.close()
        server.should_exit = True
        thread.join(5)
    message = str(err.value)
    assert "HTTP 400: the prompt is" in message and "reads at most 50" in message, message
    assert "\n" not in message and '{"error"' not in message
