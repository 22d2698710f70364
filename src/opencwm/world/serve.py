"""Our model directories on the OpenAI API (`opencwm serve`).

Anything that speaks `/v1/completions` (our `EndpointBackend`, an OpenAI
client, curl) can then drive a locally trained model exactly as it drives
facebook/cwm under vLLM, and `/v1/chat/completions` drives the SWE agent
(`chat.py` says how messages become a prompt). Generation is
`LocalBackend.complete`, the same code the rollout runs in-process, so a
rollout through the server and one without it give the same frames.
Requests are served one at a time (one model, one KV cache); consecutive
requests whose prompts only grow reuse that cache, as in-process. A client
that hangs up stops its generation before the next token.

Where this differs from vLLM, on purpose:

- the model's stop tokens (`<|frame_sep|>`, `<|end_of_text|>`) always end
  a completion, like an end-of-sequence token, and are kept in the text
  (special tokens are never skipped: the CWM format is made of them); a
  chat reply drops the one that ended it;
- other `stop` strings are applied to the finished text, not while
  generating; a stop string is kept in the text unless
  `include_stop_str_in_output` is false; `usage.completion_tokens` counts
  the tokens generated, including any past such a stop;
- `max_tokens` is cut to the room left in the context instead of refused;
- of vLLM's `structured_outputs`, `choice` is applied (a walk down the
  choices' token trie, as the local constraint walks the program's lines);
  other kinds are a 400, not ignored;
- one prompt string (or a list of them), one choice each; no streaming,
  no logprobs, no function calling (`tools`): the SWE agent's text tool
  calls are plain content.

Every error, 404 and 405 included, is OpenAI's body: `{"error": {"message",
"type", "param", "code"}}`, `code` being the HTTP status (as vLLM does).

Binds 127.0.0.1 unless told otherwise: there is no authentication.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from opencwm.world.backends import STOPS, Backend, Sampling
from opencwm.world.chat import PLAIN, ChatFormat, model_chat

# fields a request may send with only one value (besides null)
_UNSUPPORTED = {
    "stream": False,
    "n": 1,
    "best_of": 1,
    "logprobs": None,
    "suffix": None,
    "skip_special_tokens": False,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logit_bias": None,
    "guided_choice": None,  # vLLM's before 0.12: structured_outputs now
    "guided_regex": None,
    "guided_json": None,
    "guided_grammar": None,
    "response_format": None,
}
_CHAT_UNSUPPORTED = {
    **{k: v for k, v in _UNSUPPORTED.items() if k not in ("best_of", "suffix", "logprobs")},
    "logprobs": False,
    "top_logprobs": None,
    "tools": None,
    "tool_choice": "none",
    "functions": None,
    "structured_outputs": None,
}

Seed = Annotated[int | None, Field(None, ge=-(2**63), lt=2**63)]
"""A 64-bit signed integer, as vLLM takes; larger ones are a 400."""


class _Sampled(BaseModel):
    """Fields both endpoints read; defaults are OpenAI's, except
    `include_stop_str_in_output` (see above)."""

    model_config = ConfigDict(extra="allow")  # other fields: checked against the unsupported

    model: str | None = None
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: Seed = None
    stop: str | list[str] | None = None
    include_stop_str_in_output: bool = True


class CompletionRequest(_Sampled):
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    echo: bool = False


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, ...: kept for a chat template

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ChatRequest(_Sampled):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    """Default: the room left in the context (as vLLM)."""


class _Refused(Exception):
    """A request this server will not run: answered with the OpenAI error body."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.param = status, param
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")


def error(
    status: int, message: str, kind: str | None = None, param: str | None = None, headers=None
) -> JSONResponse:
    """OpenAI's error body; `code` is the HTTP status, as vLLM sends it."""
    kind = kind or ("invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(backend: Backend, name: str, chat: ChatFormat | None = None) -> FastAPI:
    """A FastAPI app serving `backend` under the model id `name`.

    Any `Backend` works (tests serve the scripted fake); `opencwm serve`
    passes a `LocalBackend`. `chat`: how messages become a prompt; default
    the backend's tokenizer's chat template if it has one, else `PLAIN`.
    """
    app = FastAPI(title="opencwm", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    created = int(time.time())
    if chat is None:
        tokenizer = getattr(backend, "tokenizer", None)
        model = getattr(backend, "model", None)
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        chat = model_chat(tokenizer, eos) if tokenizer is not None else PLAIN
    routes = "GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions"

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> JSONResponse:
        return error(exc.status, str(exc), exc.kind, exc.param)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            message = f"no route {where}; known: {routes}"
        elif exc.status_code == 405:
            allow = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
            message = f"{where} is not allowed; use {allow or 'another method'}"
        else:
            message = str(exc.detail)
        return error(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return error(400, "the request body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        param = str(first["loc"][1]) if len(first.get("loc", ())) > 1 else None
        return error(
            400, f"{where or 'request'}: {first.get('msg', 'invalid request')}", None, param
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return error(500, f"{type(exc).__name__}: {text}")

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

    def check(req: _Sampled, unsupported: dict) -> tuple[list[str], int]:
        """(stop strings, seed), or `_Refused`."""
        if req.model not in (None, "", "default", name):
            raise _Refused(404, f"model {req.model!r} is not served here; known: {name}", "model",
                           "not_found_error")  # fmt: skip
        extra = req.model_extra or {}
        for key, allowed in unsupported.items():
            if extra.get(key) not in (None, allowed):  # null: the client's way of not asking
                raise _Refused(400, f"{key}={extra[key]!r} is not supported; use {allowed!r}", key)
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if not all(stops):
            raise _Refused(400, "stop: stop strings must be non-empty", "stop")
        return stops, req.seed if req.seed is not None else secrets.randbelow(2**31)

    def fits(prompt: str) -> int:
        """The prompt's length in tokens, or `_Refused` when no token fits after it."""
        n = backend.count_tokens(prompt)
        if backend.context_tokens - n < 1:
            raise _Refused(
                400,
                f"the prompt is {n} tokens; this model reads at most "
                f"{backend.context_tokens} (prompt and completion together)",
                "prompt",
            )
        return n

    def generate(prompt: str, sampling: Sampling) -> tuple[str, int]:
        """(text, tokens generated), under the lock; nothing once cancelled."""
        with lock:  # one model, one KV cache: one request at a time
            if sampling.cancel is not None and sampling.cancel.is_set():
                return "", 0
            text = backend.complete(prompt, sampling)
            return text, getattr(backend, "generated_tokens", None) or backend.count_tokens(text)

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest, request: Request) -> dict:
        stops, seed = check(req, _UNSUPPORTED)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts or not all(prompts):
            raise _Refused(400, "prompt: give one non-empty string (or a list of them)", "prompt")
        lengths = [fits(p) for p in prompts]
        choice = _choice((req.model_extra or {}).get("structured_outputs"))

        def work(cancel: threading.Event) -> list[tuple[str, int]]:
            out = []
            for prompt, n in zip(prompts, lengths, strict=True):
                room = backend.context_tokens - n
                most = min(req.max_tokens, room)
                sampling = Sampling(
                    req.temperature, req.top_p, seed, most, choice=choice, cancel=cancel
                )
                out.append(generate(prompt, sampling))
            return out

        choices, made = [], 0
        for i, (prompt, (text, count)) in enumerate(
            zip(prompts, await _until_hang_up(request, work), strict=True)
        ):
            text, finish, stop_reason = _finish(text, stops, req.include_stop_str_in_output)
            made += count
            choices.append(
                {
                    "index": i,
                    "text": prompt + text if req.echo else text,
                    "logprobs": None,
                    "finish_reason": finish,
                    "stop_reason": stop_reason,
                }
            )
        return _reply("cmpl", "text_completion", name, choices, sum(lengths), made)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(req: ChatRequest, request: Request) -> dict:
        stops, seed = check(req, _CHAT_UNSUPPORTED)
        messages = [_message_dict(m) for m in req.messages]
        prompt = chat.render(messages)
        n = fits(prompt)
        room = backend.context_tokens - n
        want = req.max_completion_tokens or req.max_tokens or room
        sampling = Sampling(
            req.temperature, req.top_p, seed, min(want, room), stop_tokens=chat.stop_tokens
        )

        def work(cancel: threading.Event) -> tuple[str, int]:
            return generate(prompt, replace(sampling, cancel=cancel))

        text, made = await _until_hang_up(request, work)
        ends = (*STOPS, *chat.stop_tokens)
        text, finish, stop_reason = _finish(text, [*stops, *chat.stops], False, ends)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": []},
            "logprobs": None,
            "finish_reason": finish,
            "stop_reason": stop_reason,
        }
        return _reply("chatcmpl", "chat.completion", name, [choice], n, made)

    return app


async def _until_hang_up(request: Request, work: Callable[[threading.Event], Any]) -> Any:
    """`work(cancel)` in a worker thread; `cancel` is set the moment the
    client disconnects, so the generation stops before its next token
    instead of holding the model for a reply nobody reads."""
    import anyio.to_thread

    cancel = threading.Event()

    async def watch() -> None:
        # the body has been read: the next message is the disconnect (or, once
        # the response is sent, nothing that matters)
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.set()

    watcher = asyncio.ensure_future(watch())
    try:
        return await anyio.to_thread.run_sync(work, cancel)
    finally:
        watcher.cancel()


def _choice(asked: object) -> tuple[str, ...]:
    """The choices of vLLM's `structured_outputs` field, the one kind of
    structured output served here (a walk down the choices' token trie, as
    the local constraint walks the program's lines), or `_Refused`."""
    if asked is None:
        return ()
    param = "structured_outputs"
    if not isinstance(asked, dict):
        raise _Refused(400, f'{param}: give an object such as {{"choice": [...]}}', param)
    kinds = sorted(k for k, v in asked.items() if v not in (None, False))
    if kinds and kinds != ["choice"]:
        other = next(k for k in kinds if k != "choice")
        raise _Refused(400, f"{param}.{other} is not supported here; only choice", param)
    choice = asked.get("choice")
    if choice is None:
        return ()
    if (
        not isinstance(choice, list)
        or not choice
        or not all(isinstance(c, str) and c for c in choice)
    ):
        raise _Refused(400, f"{param}.choice: give a list of non-empty strings", param)
    ordered = sorted(set(choice))
    for a, b in pairwise(ordered):
        if b.startswith(a):
            raise _Refused(
                400, f"{param}.choice: {a!r} begins {b!r}; none may begin another", param
            )
    return tuple(ordered)


def _message_dict(m: ChatMessage) -> dict:
    """The message as a chat template reads it: text parts joined."""
    d = m.model_dump(exclude_none=True)
    if isinstance(m.content, list):
        d["content"] = "".join(p.text for p in m.content)
    return d


def _reply(prefix: str, kind: str, name: str, choices: list, used: int, made: int) -> dict:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": name,
        "choices": choices,
        "usage": {"prompt_tokens": used, "completion_tokens": made, "total_tokens": used + made},
    }


def _finish(
    text: str, stops: list[str], include: bool, ends: tuple[str, ...] = STOPS
) -> tuple[str, str, str | None]:
    """(text cut at the first stop, finish_reason, the stop that ended it);
    `ends`: the stop tokens decoding ended at."""
    hits = [(text.find(s), s) for s in (*stops, *ends) if s in text]
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
