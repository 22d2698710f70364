"""Placing CWM-text frames back in their program (`trace/resolve.py`)."""

from __future__ import annotations

from opencwm.trace.cwm import from_cwm, to_cwm
from opencwm.tracer.api import trace_program

SCRIPT_OPENING_WITH_A_DEF = """\
def double(x):
    return 2 * x


print(double(21))
"""


def test_a_script_whose_first_line_is_a_def_reads_back_its_module_frame(sandbox):
    # the module's call frame shows line 1, which is also `double`'s def line
    trace = trace_program(SCRIPT_OPENING_WITH_A_DEF, None, "", sandbox=sandbox)
    assert trace.status == "returned" and trace.frames[0].func == "<module>"
    back = from_cwm(to_cwm(trace))
    assert [(f.event, f.line, f.func, f.depth) for f in back.frames] == [
        (f.event, f.line, f.func, f.depth) for f in trace.frames
    ]
