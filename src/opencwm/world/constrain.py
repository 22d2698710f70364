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


_SHAPE = {
    ("pre", "{"): "first",
    ("first", '"'): "key",
    ("first", "}"): "done",
    ("colon", ":"): "colon2",
    ("colon2", " "): "colon3",
    ("colon3", '"'): "val",
    ("post", ","): "comma",
    ("comma", " "): "obj",
    ("obj", '"'): "key",
    ("post", "}"): "done",
}
"""Moves of the locals object outside its strings, as `json.dumps` writes
it (`{"a": "1", "b": "2"}`), the only way the codec writes it."""


class KeyConstraint:
    """The locals' keys must be names written in the context.

    A key is a variable of the program, so it is an identifier of its
    source; a small model's other common mistake is to write a name that
    is frequent in its corpus instead (`n` for `numbers`). Values stay
    free. The JSON of the locals is followed character by character (the
    decoded text of each token): outside strings only its shape is allowed,
    and a key that is not a prefix of a context name, or is closed while not
    being one, is refused.
    """

    def __init__(self, names: set[str], texts: list[str], opens: set[int], action_sep: int):
        """`texts[i]`: token i's decoded text; `opens`: the event tokens
        after which a locals object follows (`<|call_sep|>`, `<|line_sep|>`)."""
        self.names = names
        self.texts = texts
        self.opens = opens
        self.action_sep = action_sep
        # (where in the JSON, key so far, keys already written): None outside
        self.state: tuple[str, str, frozenset[str]] | None = None

    @property
    def active(self) -> bool:
        """Inside a locals object: only there are tokens checked."""
        return self.state is not None

    def _walk(self, tok: int) -> tuple[str, str, frozenset[str]] | None:
        """The state after `tok`, or None if it writes a key that is not a
        name (or one already written) or breaks the object's shape."""
        assert self.state is not None
        where, key, used = self.state
        for ch in self.texts[tok] if tok < len(self.texts) else "":
            if where == "key":
                if ch == '"' and key in self.names and key not in used:
                    where, used = "colon", used | {key}
                elif ch != '"' and any(n.startswith(key + ch) for n in self.names - used):
                    key += ch
                else:
                    return None
            elif where == "val":
                where = {"\\": "esc", '"': "post"}.get(ch, "val")
            elif where == "esc":
                where = "val"
            elif (where, ch) in _SHAPE:
                where = _SHAPE[where, ch]
                key = "" if where == "key" else key
            else:  # not the shape of a locals object: `{"name": "value", ...}`
                return None
        return where, key, used

    def accepts(self, tok: int) -> bool:
        if self.state is None:
            return True
        if tok == self.action_sep:
            return self.state[0] == "done"
        return tok not in self.opens and self._walk(tok) is not None

    def advance(self, tok: int) -> None:
        if tok in self.opens:
            self.state = ("pre", "", frozenset())
        elif tok == self.action_sep:
            self.state = None
        elif self.state is not None:
            self.state = self._walk(tok) or self.state


def context_names(context: str) -> set[str]:
    """The names the context's code uses: its NAME tokens, keywords aside
    (not the words of its strings, docstrings and comments). Every
    identifier-shaped word if the source does not tokenize."""
    import io
    import keyword
    import re
    import tokenize

    try:
        toks = tokenize.generate_tokens(io.StringIO(context).readline)
        names = {t.string for t in toks if t.type == tokenize.NAME}
    except (tokenize.TokenError, SyntaxError):
        names = set(re.findall(r"[^\W\d]\w*", context))
    return {n for n in names if not keyword.iskeyword(n)}


# ---- the same constraints for servers that take them as request fields ----------


def action_choices(context: str) -> list[str]:
    """The action lines a frame of `context` may write, each with its
    newline: `LineTrie`'s lines, as a server's `choice` constraint."""
    return sorted({strip_marker(line) + "\n" for line in source_lines(context)})


def locals_regex(names: set[str]) -> str:
    """A locals object whose keys are `names`, in `json.dumps`'s shape
    (`{"a": "1", "b": "2"}`), as a regex for servers that constrain by
    regex. Weaker than `KeyConstraint`: a key may repeat (a regular
    expression cannot remember which keys were written)."""
    import re

    key = '"(?:' + "|".join(re.escape(n) for n in sorted(names)) + ')"'
    value = r'"(?:[^"\\\n]|\\.)*"'
    pair = f"{key}: {value}"
    return r"\{" + (f"(?:{pair}(?:, {pair})*)?" if names else "") + r"\}"


class ChoiceTrie(LineTrie):
    """Token-id prefix tree of given strings (a `choice` constraint); none
    may be a prefix of another, as no line is of another line."""

    def __init__(self, choices: list[str], encode) -> None:
        self.root: Node = {}
        for ids in encode(sorted(set(choices))):
            node = self.root
            for tok in ids:
                node = node.setdefault(tok, {})
