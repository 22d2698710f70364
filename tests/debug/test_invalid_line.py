"""A frame whose source line is not one of the program's (free decoding
through an endpoint can write one) is an invalid frame, not a frame at
`line 0`. The REPL and the web page show it as they show any invalid frame."""

from __future__ import annotations

from sample_programs import SRC

from opencwm.debug.session import Session
from opencwm.trace import tokens as T
from opencwm.tracer.api import trace_program
from opencwm.world.fake import ScriptedBackend, replay_replies


def off_program(reply: str) -> str:
    """`reply` with its action line swapped for one the program lacks."""
    head, _, rest = reply.partition(T.ACTION_SEP)
    _, _, tail = rest.partition("\n")
    return f"{head}{T.ACTION_SEP}    no_such = line\n{tail}"


def test_a_frame_off_the_program_is_invalid_and_asked_again(sandbox):
    real = trace_program(SRC, "total", "3", sandbox=sandbox)
    replies = replay_replies(real)
    backend = ScriptedBackend([off_program(replies[0]), *replies])
    s = Session(SRC, "total", "3", backend=backend, sandbox=sandbox)
    moved = s.step()
    assert (moved.added, moved.why) == (0, "invalid")
    assert len(s.frames) == 1 and s.history == []
    assert s.invalid.raw == off_program(replies[0])
    assert s.invalid.error == "the line 'no_such = line' is not in the program"
    assert all(f.line > 0 for f in s.frames)
    s.step()  # asked again, sampling
    assert s.invalid is None and s.frames == real.frames[:2]
    assert backend.samplings[-1].temperature > 0
