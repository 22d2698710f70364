"""Our model directories on the OpenAI completions API (`opencwm serve`).

Anything that speaks `/v1/completions` (our `EndpointBackend`, an OpenAI
client, curl) can then drive a locally trained model exactly as it drives
facebook/cwm under vLLM. Generation is `LocalBackend.complete`, the same
code the rollout runs in-process, so a rollout through the server and one
without it give the same frames. Requests are served one at a time (one
model, one KV cache); consecutive requests whose prompts only grow reuse
that cache, as in-process.

Where this differs from vLLM, on purpose:

- the model's stop tokens (`<|frame_sep|>`, `<|end_of_text|>`) always end
  a completion, like an end-of-sequence token, and are kept in the text
  (special tokens are never skipped: the CWM format is made of them);
- other `stop` strings are applied to the finished text, not while
  generating; a stop string is kept in the text unless
  `include_stop_str_in_output` is false;
- `max_tokens` is cut to the room left in the context instead of refused;
- one prompt string (or a list of them), one choice each; no streaming,
  no logprobs.

Binds 127.0.0.1 unless told otherwise: there is no authentication.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opencwm.world.backends import STOPS, Backend, Sampling

_UNSUPPORTED = {  # field: the only value accepted (besides null)
    "stream": False,
    "n": 1,
    "best_of": 1,
    "logprobs": None,
    "suffix": None,
    "skip_special_tokens": False,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logit_bias": None,
}


class CompletionRequest(BaseModel):
    """The fields of an OpenAI completion request that this server reads;
    defaults are OpenAI's, except `include_stop_str_in_output` (see above)."""

    model_config = ConfigDict(extra="allow")  # other fields: checked against _UNSUPPORTED

    model: str | None = None
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    echo: bool = False
    include_stop_str_in_output: bool = True


def create_app(backend: Backend, name: str) -> FastAPI:
    """A FastAPI app serving `backend` under the model id `name`.

    Any `Backend` works (tests serve the scripted fake); `opencwm serve`
    passes a `LocalBackend`.
    """
    app = FastAPI(title="opencwm", docs_url=None, redoc_url=None)
    lock = threading.Lock()
    created = int(time.time())

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse(
            {"error": {"message": message, "type": kind, "code": status}}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return error(400, "the request body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(400, f"{where or 'request'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return error(500, f"{type(exc).__name__}: {text}", "server_error")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict:
        card = {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "opencwm",
            "max_model_len": backend.context_tokens,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/completions", response_model=None)
    def completions(req: CompletionRequest) -> dict | JSONResponse:
        if req.model not in (None, "", "default", name):
            return error(
                404, f"model {req.model!r} is not served here; known: {name}", "not_found_error"
            )
        extra = req.model_extra or {}
        for key, allowed in _UNSUPPORTED.items():
            if extra.get(key) not in (None, allowed):  # null: the client's way of not asking
                return error(400, f"{key}={extra[key]!r} is not supported; use {allowed!r}")
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts or not all(prompts):
            return error(400, "prompt: give one non-empty string (or a list of them)")
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if not all(stops):
            return error(400, "stop: stop strings must be non-empty")
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
        choices, used, made = [], 0, 0
        with lock:  # one model, one KV cache: one request at a time
            for i, prompt in enumerate(prompts):
                n = backend.count_tokens(prompt)
                room = backend.context_tokens - n
                if room < 1:
                    return error(
                        400,
                        f"the prompt is {n} tokens; this model reads at most "
                        f"{backend.context_tokens} (prompt and completion together)",
                    )
                sampling = Sampling(req.temperature, req.top_p, seed, min(req.max_tokens, room))
                text = backend.complete(prompt, sampling)
                text, finish, stop_reason = _finish(text, stops, req.include_stop_str_in_output)
                used, made = used + n, made + backend.count_tokens(text)
                choices.append(
                    {
                        "index": i,
                        "text": prompt + text if req.echo else text,
                        "logprobs": None,
                        "finish_reason": finish,
                        "stop_reason": stop_reason,
                    }
                )
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": choices,
            "usage": {
                "prompt_tokens": used,
                "completion_tokens": made,
                "total_tokens": used + made,
            },
        }

    return app


def _finish(text: str, stops: list[str], include: bool) -> tuple[str, str, str | None]:
    """(text cut at the first stop, finish_reason, the stop that ended it)."""
    hits = [(text.find(s), s) for s in (*stops, *STOPS) if s in text]
    if not hits:
        return text, "length", None
    at, stop = min(hits, key=lambda h: (h[0], -len(h[1])))
    return text[: at + len(stop)] if include else text[:at], "stop", stop


def listen(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """The listening socket, bound before the model loads, so a busy port
    fails at once (OSError) rather than after a slow load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run(app: FastAPI, sock: socket.socket, log_level: str = "info") -> None:
    """Serve `app` on `sock` until interrupted (Ctrl-C)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level)).run(
        sockets=[sock]
    )


def serve(model: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model directory and serve it until interrupted."""
    from opencwm.world.backends import LocalBackend

    sock = listen(host, port)
    path = Path(model).resolve()
    run(create_app(LocalBackend(str(path)), path.name), sock)
