"""A client that hangs up must not keep the model busy: `opencwm serve`
under uvicorn on 127.0.0.1, over a backend that writes a token every
`TICK` seconds and notes when it wrote each."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn
from micro_cwm import free_port

from opencwm.world.backends import Sampling
from opencwm.world.serve import create_app

TICK = 0.05


class Slow:
    """One "x" per tick until `max_tokens` or the request's cancel is set."""

    context_tokens = 100_000

    def __init__(self) -> None:
        self.runs: list[list[float]] = []  # per completion: when each token was written

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt: str, sampling: Sampling) -> str:
        times: list[float] = []
        self.runs.append(times)
        for _ in range(sampling.max_tokens):
            if sampling.cancel is not None and sampling.cancel.is_set():
                break
            time.sleep(TICK)
            times.append(time.monotonic())
        return "x" * len(times)


@pytest.fixture
def served() -> tuple[str, Slow]:
    backend = Slow()
    port = free_port()
    config = uvicorn.Config(create_app(backend, "slow"), port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/v1", backend
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("route", ["completions", "chat/completions"])
def test_a_client_that_hangs_up_stops_its_generation(served, route):
    url, backend = served
    many = 200  # 10 s of tokens if nobody stops it

    def body(n: int) -> dict:
        if route == "completions":
            return {"prompt": "P", "max_tokens": n}
        return {"messages": [{"role": "user", "content": "P"}], "max_tokens": n}

    start = time.monotonic()
    assert httpx.post(f"{url}/{route}", json=body(2), timeout=60).status_code == 200
    short = time.monotonic() - start
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/{route}", json=body(many), timeout=0.5)
    hung_up = time.monotonic()
    start = time.monotonic()
    r = httpx.post(f"{url}/{route}", json=body(2), timeout=60)
    after = time.monotonic() - start
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2
    abandoned = backend.runs[1]
    late = [t for t in abandoned if t > hung_up]
    assert 0 < len(abandoned) < many and len(late) <= 2, (len(abandoned), len(late))
    # the short request did not wait out the abandoned one (a ratio to the time it
    # would have taken, not a speed)
    assert after / (many * TICK) < 0.2, (short, after)
