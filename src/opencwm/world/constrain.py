"""Decoding that exploits the trace format: the action is a line of the context.

Every frame names the source line it is about (`<|action_sep|>LINE\\n`), and
that line is always one of the context's lines, marker stripped. A small
model's commonest mistake is to mis-copy it (a string literal from another
program, a near-identical line). So once the model has written
`<|action_sep|>`, the local backend only lets it choose among the token
sequences of the context's lines: a prefix tree of their token ids, walked
one token at a time. The model still picks *which* line; it can no longer
write one that does not exist.

The line's tokens are the same here as in training: special tokens split
the text before the tokenizer sees it, so `LINE\\n` between `<|action_sep|>`
and the next special token is always encoded on its own.
"""

from __future__ import annotations

from opencwm.trace import tokens as T
from opencwm.trace.source import source_lines, strip_marker

Node = dict[int, "Node"]


class LineTrie:
    """Token-id prefix tree of the context's lines, each with its newline."""

    def __init__(self, context: str, encode) -> None:
        """`encode(list[str]) -> list[list[int]]`: the tokenizer, batched."""
        self.root: Node = {}
        lines = sorted({strip_marker(line) + "\n" for line in source_lines(context)})
        for ids in encode(lines):
            node = self.root
            for tok in ids:
                node = node.setdefault(tok, {})


class ActionConstraint:
    """Tracks one reply as it is generated and says which tokens may come next.

    Free text until `<|action_sep|>`; then a walk down the trie until a line
    is complete (a leaf: no line's tokens extend another's, since each ends
    at its only newline); then free again (`<|arg_sep|>` or `<|frame_sep|>`).
    """

    def __init__(self, trie: LineTrie, action_sep: int, in_action: bool = False) -> None:
        self.trie = trie
        self.action_sep = action_sep
        self.node: Node | None = trie.root if in_action and trie.root else None

    def allowed(self) -> list[int] | None:
        """Token ids allowed next, or None for any."""
        return list(self.node) if self.node else None

    def advance(self, tok: int) -> None:
        if self.node is not None:
            nxt = self.node.get(tok)
            self.node = nxt if nxt else None  # a leaf (or an unforeseen token): free again
        elif tok == self.action_sep and self.trie.root:
            self.node = self.trie.root


def context_of(prompt: str) -> str | None:
    """The context source at the head of a rollout prompt, if it has one."""
    head = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START
    if not prompt.startswith(head):
        return None
    context, sep, _ = prompt[len(head) :].partition(T.FRAME_SEP)
    return context if sep else None
