"""CWM's special tokens, defined once (see docs/trace-format.md)."""

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
TRACE_CONTEXT_START = "<|trace_context_start|>"
FRAME_SEP = "<|frame_sep|>"
CALL_SEP = "<|call_sep|>"
LINE_SEP = "<|line_sep|>"
RETURN_SEP = "<|return_sep|>"
EXCEPTION_SEP = "<|exception_sep|>"
ACTION_SEP = "<|action_sep|>"
ARG_SEP = "<|arg_sep|>"

EVENT_TOKENS = {
    "call": CALL_SEP,
    "line": LINE_SEP,
    "return": RETURN_SEP,
    "exception": EXCEPTION_SEP,
}
TOKEN_EVENTS = {tok: ev for ev, tok in EVENT_TOKENS.items()}

SPECIAL_TOKENS = (
    BEGIN_OF_TEXT,
    END_OF_TEXT,
    TRACE_CONTEXT_START,
    FRAME_SEP,
    CALL_SEP,
    LINE_SEP,
    RETURN_SEP,
    EXCEPTION_SEP,
    ACTION_SEP,
    ARG_SEP,
)

TRACE_MARKER = "# << START_OF_TRACE"
"""Comment that marks the entry function's `def` line in the context."""

UNCHANGED = ".."
"""A local whose value is the same as in the previous frame of its activation."""
