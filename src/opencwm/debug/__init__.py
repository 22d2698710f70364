"""The neural debugger: step through an execution the model imagines.

`session.py` is the debugger (a state machine over frames that drives the
imagined world through a backend, or the real one through the tracer);
`worlds.py` the two worlds behind one interface; `truth.py` pairs them
for `truth on`; `repl.py` (pdb-style) and `web.py` (+ `static/index.html`)
are thin UIs over a session; `cli.py` is `opencwm debug`. See
docs/debugger.md.

The public names load on first use, so that registering `opencwm debug`
(which imports `opencwm.debug.cli`) costs the CLI's start-up nothing.
"""

from __future__ import annotations

__all__ = ["DebugError", "FrameView", "Moved", "Session", "SessionConfig", "StackEntry"]


def __getattr__(name: str) -> object:
    if name == "DebugError":
        from opencwm.debug.worlds import DebugError

        return DebugError
    if name in __all__:
        from opencwm.debug import session

        return getattr(session, name)
    raise AttributeError(f"module 'opencwm.debug' has no attribute {name!r}")
