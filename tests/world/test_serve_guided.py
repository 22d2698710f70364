"""Constrained decoding through an endpoint (`guided.py`): what
`EndpointBackend` asks a server that takes `structured_outputs`, and how it
falls back where the server refuses or ignores them.

The fake server knows the whole real trace and answers each request with
what follows its prompt in that text: one token, up to a regex's end, a
choice, or up to a stop token. It records every request body; it checks a
constraint as a real server would apply it (a choice is one of the list, a
regex match is full), or refuses or ignores it, as told."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC

from opencwm.trace import tokens as T
from opencwm.trace.cwm import to_cwm
from opencwm.tracer.api import trace_program
from opencwm.world.backends import EndpointBackend, Sampling
from opencwm.world.constrain import action_choices, context_names
from opencwm.world.guided import ConstraintWarning
from opencwm.world.rollout import RolloutConfig, rollout

REAL = trace_program(SRC, ENTRY, MEMORISED)
TEXT = to_cwm(REAL)


class Fake(BaseHTTPRequestHandler):
    mode = "apply"  # or "apply+eos", "refuse" (HTTP 400), "ignore" (answer freely)
    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.bodies.append(body)
        asked = body.get("structured_outputs")
        if asked and self.mode == "refuse":
            return self.answer(400, {"error": {"message": "structured_outputs: no"}})
        assert TEXT.startswith(body["prompt"]), body["prompt"][-80:]
        rest = TEXT[len(body["prompt"]) :]
        if asked and self.mode.startswith("apply"):
            (kind, value), = asked.items()  # fmt: skip
            text = rest[: rest.index("\n") + 1] if kind == "choice" else rest.split("<|")[0]
            assert text in value if kind == "choice" else re.fullmatch(value, text), (kind, text)
            assert body["include_stop_str_in_output"] is False
            if self.mode == "apply+eos":  # a server that writes the end-of-sequence token out
                text += T.END_OF_TEXT
        elif body["max_tokens"] == 1:
            text = rest[: rest.index("|>") + 2]
        else:
            ends = [rest.index(s) + len(s) for s in body["stop"] if s in rest]
            text = rest[: min(ends)]
        finish = "length" if body["max_tokens"] == 1 and not asked else "stop"
        reply = {
            "choices": [{"text": text, "finish_reason": finish}],
            "usage": {"completion_tokens": 1},
        }
        self.answer(200, reply)

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[str]:
    Fake.bodies, Fake.mode = [], "apply"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


CONFIG = RolloutConfig(max_frames=40, sampling=Sampling(max_tokens=96))


@pytest.mark.parametrize("mode", ["apply", "apply+eos"])
def test_a_frame_is_asked_for_in_constrained_pieces(fake, mode):
    Fake.mode = mode
    trace, _ = rollout(SRC, ENTRY, MEMORISED, EndpointBackend(fake), CONFIG)
    assert trace.frames == REAL.frames and trace.status == "returned"
    lines = action_choices(REAL.source)
    choices = [b for b in Fake.bodies if "choice" in b.get("structured_outputs", {})]
    regexes = [b["structured_outputs"]["regex"] for b in Fake.bodies
               if "regex" in b.get("structured_outputs", {})]  # fmt: skip
    assert len(choices) == len(REAL.frames) - 1  # the call frame came from the real arguments
    assert all(b["structured_outputs"]["choice"] == lines for b in choices)
    assert all(b["prompt"].endswith(T.ACTION_SEP) for b in choices)
    line_frames = sum(f.event == "line" for f in REAL.frames)
    assert len(regexes) == line_frames and len(set(regexes)) == 1
    assert re.fullmatch(regexes[0], '{"s": "0"}') and not re.fullmatch(regexes[0], '{"t": "0"}')
    assert context_names(REAL.source) == {"total", "n", "s", "i", "range"}
    # each frame: its event token, [its locals], its line, [its value], the end
    assert len(Fake.bodies) == 2 * len(REAL.frames) - 1 + line_frames


@pytest.mark.parametrize("mode", ["refuse", "ignore"])
def test_a_server_without_constraints_gets_one_warning_a_kind_then_free_frames(fake, mode):
    Fake.mode = mode
    with pytest.warns(ConstraintWarning) as caught:
        trace, _ = rollout(SRC, ENTRY, MEMORISED, EndpointBackend(fake), CONFIG)
    assert trace.frames == REAL.frames
    kinds = sorted(re.search(r"structured_outputs\.(\w+)", str(w.message))[1] for w in caught)
    assert kinds == ["choice", "regex"], [str(w.message) for w in caught]
    asked = [i for i, b in enumerate(Fake.bodies) if "structured_outputs" in b]
    assert len(asked) == 2
    # the frame then finishes freely; `Fake` answered each piece of the real text
    assert all("structured_outputs" not in b for b in Fake.bodies[asked[-1] + 1 :])
