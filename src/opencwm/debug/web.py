"""`opencwm debug FILE --web`: the session behind a small JSON API and one page.

The page (`static/index.html`, plain HTML and JavaScript, nothing fetched
from anywhere but this server) draws what `GET /api/state` returns and
sends each command as `POST /api/<command>`; every answer carries the
whole new state, so the page never keeps state of its own that could
drift from the session's. One session, one user: commands are serialised
by a lock (a browser may fire two requests at once).

Errors: a command the session refuses is HTTP 400 `{"error": "..."}`; a
backend that is down or slow is HTTP 503 with `"retry": true`, and the
state is unchanged, so sending the command again retries it.
Binds 127.0.0.1 by default: there is no authentication.

A concurrent program's state also lists its `actors` (in the order they
first appear) and `arrows`, (send index, recv index) of each delivered
message; the page then draws one lane per actor and an arrow per message.
"""

from __future__ import annotations

import threading
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from opencwm.debug.session import FrameView, Moved, Session
from opencwm.debug.worlds import DebugError
from opencwm.trace.view import actors_of, message_pairs
from opencwm.world.backends import BackendError


class Line(BaseModel):
    line: str = ""


class Assignment(BaseModel):
    name: str
    expr: str


class Switch(BaseModel):
    on: bool


class Arguments(BaseModel):
    input: str | None = None


def frame_json(v: FrameView) -> dict:
    f = v.frame
    out = {
        **f.to_dict(),
        "index": v.index,
        "changed": list(v.changed),
        "counterfactual": v.counterfactual,
        "real": v.real.to_dict() if v.real is not None else None,
        "disagree": None,
    }
    if v.disagreement is not None:
        d = v.disagreement
        out["disagree"] = {
            "any": bool(d),
            "event": d.event,
            "line": d.line,
            "names": list(d.names),
            "arg": d.arg,
        }
    return out


def state_json(s: Session, title: str = "") -> dict:
    """Everything the page draws, from the session alone."""
    views = s.views()
    cur = s.current
    shown = s.values() if cur is not None else {}
    return {
        "title": title,
        "entry": s.entry,
        "input": s.input,
        "world": "real" if s.real_world else "imagined",
        "lines": s.lines,
        "current": len(views) - 1,
        "frames": [frame_json(v) for v in views],
        "locals": shown,
        "stack": [{"func": e.func, "line": e.line, "source": e.source} for e in s.where()],
        "actors": actors_of(s.frames),
        "arrows": [list(p) for p in message_pairs(s.frames)],
        "breakpoints": sorted(s.breakpoints),
        "truth": s.truth,
        "ended": s.ended,
        "ending": s.ending(),
        "invalid": {"raw": s.invalid.raw, "error": s.invalid.error} if s.invalid else None,
    }


def create_app(session: Session, title: str = "") -> FastAPI:
    """The API and the page over one session."""
    app = FastAPI(title="opencwm debug", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    page = files("opencwm.debug").joinpath("static/index.html").read_text(encoding="utf-8")

    def answer(do, what: str = "") -> JSONResponse:
        with lock:
            try:
                result = do()
            except DebugError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except BackendError as exc:
                return JSONResponse(
                    {"error": f"{exc}; nothing changed", "retry": True}, status_code=503
                )
            note = what
            if isinstance(result, Moved):
                note = result.why if result.why not in ("", "invalid") else ""
                if result.why == "breakpoint":
                    note = f"breakpoint at line {session.current.line}"
                elif result.why == "ended":
                    note = session.ending()
            elif isinstance(result, str) and not what:
                note = result
            return JSONResponse({"message": note, "state": state_json(session, title)})

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/state")
    def state() -> JSONResponse:
        return answer(lambda: None)

    @app.post("/api/step")
    def step() -> JSONResponse:
        return answer(session.step)

    @app.post("/api/next")
    def next_() -> JSONResponse:
        return answer(session.next)

    @app.post("/api/out")
    def out() -> JSONResponse:
        return answer(session.out)

    @app.post("/api/continue")
    def cont() -> JSONResponse:
        return answer(session.cont)

    @app.post("/api/back")
    def back() -> JSONResponse:
        return answer(lambda: f"undid the last {session.back()}")

    @app.post("/api/break")
    def add_break(body: Line) -> JSONResponse:
        return answer(lambda: f"breakpoint at line {session.add_break(body.line)}")

    @app.post("/api/clear")
    def clear(body: Line) -> JSONResponse:
        return answer(
            lambda: "cleared " + (", ".join(map(str, session.clear_break(body.line))) or "nothing")
        )

    @app.post("/api/set")
    def set_value(body: Assignment) -> JSONResponse:
        return answer(lambda: f"{body.name.strip()} = {session.set_value(body.name, body.expr)}")

    @app.post("/api/truth")
    def truth(body: Switch) -> JSONResponse:
        return answer(lambda: session.set_truth(body.on))

    @app.post("/api/reset")
    def reset(body: Arguments) -> JSONResponse:
        return answer(lambda: session.reset(body.input))

    return app
