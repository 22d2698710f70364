"""`EndpointBackend` against a real `opencwm serve`, and against servers
that are down, slow or not OpenAI-compatible."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from micro_cwm import ENTRY, MEMORISED, SRC, free_port

from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import BackendError, EndpointBackend, Sampling, connect
from opencwm.world.rollout import RolloutConfig, rollout

# Short limits: the micro model writes garbage off its one memorised input.
CONFIG = RolloutConfig(max_frames=25, sampling=Sampling(max_tokens=96))


def test_the_server_completes_one_frame(server):
    real = trace_program(SRC, ENTRY, MEMORISED)
    prompt = prompt_text(real.source) + frame_text(real.frames[0], None)
    body = {"prompt": prompt, "max_tokens": 200, "temperature": 0, "stop": ["<|frame_sep|>"]}
    choice = httpx.post(f"{server}/v1/completions", json=body, timeout=60).json()["choices"][0]
    assert choice["text"] == frame_text(real.frames[1], real.frames[0])
    assert choice["text"].endswith("<|frame_sep|>") and choice["finish_reason"] == "stop"


def test_rollout_through_the_server_equals_the_local_one(server, micro_model, local_backend):
    endpoint = connect(server)
    assert (endpoint.model, endpoint.context_tokens) == (micro_model.name, 1024)
    real = trace_program(SRC, ENTRY, MEMORISED)
    sampled = RolloutConfig(max_frames=6, sampling=Sampling(temperature=0.9, seed=7, max_tokens=96))
    for input, config in ((MEMORISED, CONFIG), ("5", CONFIG), ("5", sampled)):
        here, here_steps = rollout(SRC, ENTRY, input, local_backend, config)
        there, there_steps = rollout(SRC, ENTRY, input, endpoint, config)
        assert (there.status, there.reason, there.frames) == (here.status, here.reason, here.frames)
        assert [s.raw for s in there_steps] == [s.raw for s in here_steps]
        if input == MEMORISED:
            assert here.frames == real.frames and here.status == "returned"


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message, message
    return message


def test_a_dead_endpoint_is_a_one_line_error():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(BackendError) as exc:
        EndpointBackend(url, timeout_s=5).complete("P", Sampling())
    assert "cannot reach" in one_line(exc)
    with pytest.raises(BackendError) as exc:
        connect(url)
    assert "cannot reach" in one_line(exc)


class Stub(BaseHTTPRequestHandler):
    """/slow/... never answers in time; /junk/... is not OpenAI; /down/... is a 503."""

    release = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.startswith("/slow/"):
            self.release.wait(10)
        status, body = (503, b"overloaded") if self.path.startswith("/down/") else (200, b"hi")
        try:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up on /slow/ long ago
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    Stub.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    server.block_on_close = False
    poll = {"poll_interval": 0.05}
    thread = threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Stub.release.set()
    server.shutdown()
    server.server_close()


def test_a_slow_endpoint_times_out_with_a_one_line_error(stub):
    with pytest.raises(BackendError) as exc:
        EndpointBackend(f"{stub}/slow", timeout_s=0.3).complete("P", Sampling())
    assert "did not answer within 0.3s" in one_line(exc)


@pytest.mark.parametrize(("path", "says"), [("junk", "not an OpenAI completion"), ("down", "503")])
def test_a_bad_reply_is_a_one_line_error(stub, path, says):
    with pytest.raises(BackendError) as exc:
        EndpointBackend(f"{stub}/{path}", timeout_s=5).complete("P", Sampling())
    assert says in one_line(exc)


def test_serve_applies_a_choice_with_its_trie(server):
    """`structured_outputs.choice`: the reply is one of the choices, even
    where the model would write another line (the memorised one)."""
    real = trace_program(SRC, ENTRY, MEMORISED)
    prompt = prompt_text(real.source) + frame_text(real.frames[0], None)
    prompt += frame_text(real.frames[1], real.frames[0]).split("<|action_sep|>")[0]
    prompt += "<|action_sep|>"
    for choices in (["    return s\n", "    s += i\n"], ["    for i in range(n):\n"]):
        body = {"prompt": prompt, "max_tokens": 50, "temperature": 0,
                "structured_outputs": {"choice": choices}}  # fmt: skip
        r = httpx.post(f"{server}/v1/completions", json=body, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["text"] in choices


def test_the_pieces_protocol_runs_against_serve(server, micro_model):
    """serve takes `choice` but refuses `regex`: one warning, and the locals
    are decoded as serve decodes them (constrained by its own trie)."""
    from opencwm.world.guided import ConstraintWarning

    endpoint = EndpointBackend(server, micro_model.name, timeout_s=60, context_tokens=1024)
    with pytest.warns(ConstraintWarning, match=r"structured_outputs\.regex") as caught:
        trace, _ = rollout(SRC, ENTRY, MEMORISED, endpoint, CONFIG)
    assert len(caught) == 1 and endpoint.refused == {"regex"}
    assert trace.frames == trace_program(SRC, ENTRY, MEMORISED).frames
