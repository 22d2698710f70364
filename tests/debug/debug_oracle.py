"""What the debugger tests share: programs, and a fake model that follows
the debugger's moves (a module of its own: `conftest` is a name every test
folder uses, and the pty driver imports it too).

`OracleBackend` answers from a recorded real run, the way a perfect model
would under the debugger: it reads the frames already in the prompt,
finds where in the real run they stand (a forced `return` after a call
skips the callee's body), and writes the real run's next frame there, or
the callee's return frame when the prompt ends in a forced `return`
token. Values are diff-encoded against the *real* frame before, so a
value the user edited is carried on by `".."` where the real one did not
change: the fake continues from an edited state as a model would. One
character is one token; every prompt and sampling is recorded.
"""

from __future__ import annotations

from opencwm.debug.worlds import activation_end
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, from_cwm
from opencwm.trace.frame import Trace
from opencwm.world.backends import BackendError, Sampling


class OracleBackend:
    def __init__(self, trace: Trace, context_tokens: int = 1_000_000) -> None:
        self.trace = trace
        self.context_tokens = context_tokens
        self.prompts: list[str] = []
        self.samplings: list[Sampling] = []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _position(self, prompt: str) -> int | None:
        """Index in the real run of the prompt's last frame (None: no frame)."""
        shown = from_cwm(prompt).frames
        real = self.trace.frames
        pos = None
        for f in shown:
            if pos is None:
                pos = 0
                continue
            options = [pos + 1]
            if real[pos].event == "call":
                options.append(activation_end(real, pos))
            pos = next(
                (
                    j
                    for j in options
                    if j < len(real) and (real[j].event, real[j].line) == (f.event, f.line)
                ),
                options[0],
            )
        return pos

    def complete(self, prompt: str, sampling: Sampling) -> str:
        self.prompts.append(prompt)
        self.samplings.append(sampling)
        forced = next((ev for ev, tok in T.EVENT_TOKENS.items() if prompt.endswith(tok)), None)
        if forced is not None:
            prompt = prompt[: -len(T.EVENT_TOKENS[forced])]
        real = self.trace.frames
        pos = self._position(prompt)
        if pos is None:
            nxt, prev = 0, None
        else:
            prev = real[pos]
            nxt = (
                activation_end(real, pos)
                if forced == "return" and prev.event == "call"
                else pos + 1
            )
        if nxt >= len(real):
            return T.END_OF_TEXT
        text = frame_text(real[nxt], prev)
        if forced is not None:
            text = text.removeprefix(T.EVENT_TOKENS[forced])
        return text


class FlakyBackend:
    """Wraps a backend; its next `failures` calls raise `BackendError`, as an
    endpoint that is down or too slow would."""

    def __init__(self, inner, failures: int = 0) -> None:
        self.inner = inner
        self.failures = failures
        self.context_tokens = inner.context_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def complete(self, prompt: str, sampling: Sampling) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise BackendError("http://127.0.0.1:9/v1/completions did not answer within 5s")
        return self.inner.complete(prompt, sampling)
