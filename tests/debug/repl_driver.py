"""The REPL over a scripted session, for the pseudo-terminal tests:
`python repl_driver.py KIND HISTORY_FILE` (KIND: oracle, flaky, invalid, wrong)."""

from __future__ import annotations

import sys
from pathlib import Path

from debug_oracle import FlakyBackend, OracleBackend
from sample_programs import NESTED

from opencwm.debug.repl import DebuggerRepl
from opencwm.debug.session import Session
from opencwm.tracer.api import trace_program
from opencwm.world.fake import ScriptedBackend, replay_replies


def main() -> None:
    kind, history = sys.argv[1], Path(sys.argv[2])
    real = trace_program(NESTED, "squares", "[2, 3]")
    replies = replay_replies(real)
    backend = {
        "oracle": lambda: OracleBackend(real),
        "flaky": lambda: FlakyBackend(OracleBackend(real), failures=1),
        "invalid": lambda: ScriptedBackend(["garbage", *replies]),
        "wrong": lambda: ScriptedBackend([replies[0], replies[1].replace('"[]"', '"[0]"')]),
    }[kind]()
    session = Session(NESTED, "squares", "[2, 3]", backend=backend)
    DebuggerRepl(session, history=history).run()


if __name__ == "__main__":
    main()
