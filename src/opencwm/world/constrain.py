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

import re
import symtable

from opencwm.trace import tokens as T
from opencwm.trace.cwm import TraceFormatError, parse_frame
from opencwm.trace.source import source_lines, strip_marker
from opencwm.world.flow import Flow

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
    Where the frame before fixes the activation, a line, return or
    exception frame names one of fewer lines (`ScopeLines.after`): after
    that event's token (written, or `event` forced in the prompt) the walk
    is down `by_event[token]`.
    """

    def __init__(
        self,
        trie: LineTrie,
        action_sep: int,
        in_action: bool = False,
        *,
        by_event: dict[int, LineTrie] | None = None,
        event: int | None = None,
    ) -> None:
        self.trie = trie
        self.action_sep = action_sep
        self.by_event = {t: x for t, x in (by_event or {}).items() if x.root}
        self.use = self.by_event.get(event, trie) if event is not None else trie
        self.node: Node | None = trie.root if in_action and trie.root else None

    def allowed(self) -> list[int] | None:
        """Token ids allowed next, or None for any."""
        return list(self.node) if self.node else None

    def advance(self, tok: int) -> None:
        if self.node is not None:
            nxt = self.node.get(tok)
            self.node = nxt if nxt else None  # a leaf (or an unforeseen token): free again
        elif tok == self.action_sep and self.use.root:
            self.node = self.use.root
        elif tok in self.by_event:
            self.use = self.by_event[tok]


class ScopeLines:
    """Which lines a frame may name once the frame before it fixes the
    activation (a call or line frame; the next line, return or exception
    frame is in the same function, as on every corpus here).

    A function's lines are those of its `def` through its end, less the
    bodies of the functions and classes defined in it (their frames come
    after a call); lambdas and comprehensions stay with the statement they
    are written in. A line's text may occur in several functions: the
    lines of each are allowed. Unknown (None) where the source does not
    parse or the frame's line is not in it.
    """

    def __init__(self, context: str) -> None:
        import ast

        self.lines = [strip_marker(line) for line in source_lines(context)]
        self.by_text: dict[str, list[int]] = {}
        for i, text in enumerate(self.lines, 1):
            self.by_text.setdefault(text, []).append(i)
        self.owner: dict[int, int] = {}  # line -> its scope (an index into self.own)
        self.own: list[frozenset[str]] = []
        self.heads: dict[int, list[int]] = {}  # a call frame's line -> the scopes it enters
        self.names: list[frozenset[str] | None] = []  # a function's frames' possible keys
        self.nodes: list = []  # each scope's syntax node
        self.bound: dict[int, set[str]] = {}  # line -> the names running it may (re)bind
        self.nonlocal_: set[str] = set()  # names a nested function may rebind at any time
        try:
            text = "\n".join(self.lines)
            tree = ast.parse(text)
            table = symtable.symtable(text, "<context>", "exec")
        except (SyntaxError, ValueError):
            self.owner = {}
            return
        self._add(tree, 1, len(self.lines), table)
        self.flow = Flow(tree)
        self.bound = _bound_by_line(tree)
        self.nonlocal_ = {
            n for node in ast.walk(tree) if isinstance(node, ast.Nonlocal) for n in node.names
        }

    def _add(self, node, first: int, last: int, table) -> int:
        index = len(self.own)
        self.own.append(frozenset())
        self.nodes.append(node)
        function = table is not None and table.get_type() == "function"
        self.names.append(_frame_names(table) if function else None)
        mine = set(range(first, last + 1))
        for child in _defined_in(node):
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            inner = self._add(child, start, child.end_lineno, _table_of(table, child))
            for head in {start, child.lineno}:
                self.heads.setdefault(head, []).append(inner)
            mine -= set(range(max(child.body[0].lineno, child.lineno + 1), child.end_lineno + 1))
        for line in mine:
            self.owner[line] = index
        self.own[index] = frozenset(self.lines[i - 1] for i in mine if self.lines[i - 1].strip())
        return index

    def _scopes(self, event: str, source: str) -> set[int]:
        """The functions an activation may be in after a frame of it."""
        scopes: set[int] = set()
        if event not in ("call", "line") or not self.owner:
            return scopes
        for line in self.by_text.get(source, []):
            if event == "call" and line in self.heads:  # a fresh call
                scopes.update(self.heads[line])
            elif line in self.owner:  # a line frame, or a generator resumed at this line
                scopes.add(self.owner[line])
        return scopes

    def after(self, event: str, source: str) -> dict[str, frozenset[str]] | None:
        """Texts of the lines a frame of each event (line, return,
        exception) may name after a frame (`event`, `source`) of its
        activation: a line its control flow reaches next (`flow.py`), or for
        a return or exception the line that was running; always within the
        activation's function."""
        scopes = self._scopes(event, source)
        if not scopes:
            return None
        own = set().union(*(self.own[s] for s in scopes))
        nexts: set[int] = set()
        running: set[int] = set()
        for line in self.by_text.get(source, []):
            if event == "call" and line in self.heads:
                for s in self.heads[line]:
                    nexts |= self.flow.entry(self.nodes[s])
                running |= set(range(1, len(self.lines) + 1))  # not known: any of its lines
            else:  # a line, or a lambda, comprehension or generator entered at this line
                nexts |= self.flow.after(line) | (
                    self.flow.running(line) if event == "call" else set()
                )
                running |= self.flow.running(line)

        def texts(lines: set[int]) -> frozenset[str]:
            return frozenset(t for i in lines if (t := self.lines[i - 1]) in own)

        return {"line": texts(nexts), "return": texts(running), "exception": texts(running)}

    def unchanged_after(
        self, event: str, source: str, values: dict[str, str | None]
    ) -> frozenset[str]:
        """The keys of a frame (`event`, `source`, resolved `values`; None
        where unknown) that the next line frame of its activation must write
        `".."`: an immutable value (int, float, str, bytes, bool, None) can
        only change by being rebound, and running the frame's line rebinds
        none of them (no assignment, loop or `with` target, import, `def`,
        `except ... as`, walrus or `del` on it, nor a `nonlocal` anywhere).
        A fresh call has run nothing yet. Empty where not known."""
        if event not in ("call", "line") or not self.owner:
            return frozenset()
        lines = self.by_text.get(source, [])
        if not lines:
            return frozenset()
        fresh = event == "call" and all(line in self.heads for line in lines)
        bound = set() if fresh else set().union(*(self.bound.get(line, set()) for line in lines))
        return frozenset(
            k
            for k, v in values.items()
            if v is not None and k not in bound and k not in self.nonlocal_ and _immutable(v)
        )

    def names_after(self, event: str, source: str) -> frozenset[str] | None:
        """The names a line frame after a frame (`event`, `source`) of its
        activation may hold: its function's parameters, locals and free
        variables (and those of the lambdas and comprehensions written in
        it, which run as activations of their own on the same lines); None
        where not known (module or class code, or no function fixed)."""
        scopes = self._scopes(event, source)
        if not scopes or any(self.names[s] is None for s in scopes):
            return None
        return frozenset().union(*(self.names[s] for s in scopes))


_IMMUTABLE = re.compile(
    r"-?\d+|-?(\d+\.\d*|\d*\.\d+|\d+)(e[-+]?\d+)?|-?inf|nan|None|True|False"
    r"|b?'.*|b?\".*",
    re.S,
)
"""Reprs of values that cannot change without being rebound (a string's
repr starts with its quote, even when cut at the repr cap)."""


def _immutable(value: str) -> bool:
    return _IMMUTABLE.fullmatch(value) is not None


def _bound_by_line(tree) -> dict[int, set[str]]:
    """For each line, the names that running it may bind or unbind.

    A simple statement may bind its names on any of its lines; a compound
    one binds its header's (a loop or `with` target, a walrus in a test,
    a `def`'s or `class`'s name, an `except ... as` name) on its header's
    lines. Comprehensions and lambdas count with the statement they are in
    (a superset: their own names are theirs)."""
    import ast

    out: dict[int, set[str]] = {}

    def add(names: set[str], first: int, last: int) -> None:
        for line in range(first, last + 1):
            out.setdefault(line, set()).update(names)

    def header_end(node) -> int:
        body = getattr(node, "body", None)
        return max(node.lineno, body[0].lineno - 1) if body else node.end_lineno

    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            add({node.name} if node.name else set(), node.lineno, header_end(node))
        if not isinstance(node, ast.stmt):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            add({node.name}, first, header_end(node))
            continue
        compound = hasattr(node, "body")
        parts = _header_parts(node) if compound else [node]
        names: set[str] = set()
        for part in parts:
            for sub in ast.walk(part):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
                    names.add(sub.id)
                elif isinstance(sub, ast.alias):
                    names.add((sub.asname or sub.name).split(".")[0])
                elif isinstance(sub, ast.MatchAs | ast.MatchStar) and sub.name:
                    names.add(sub.name)
                elif isinstance(sub, ast.MatchMapping) and sub.rest:
                    names.add(sub.rest)
        if names:
            add(names, node.lineno, header_end(node) if compound else node.end_lineno)
    return out


def _header_parts(node) -> list:
    """What a compound statement runs on its header's lines."""
    import ast

    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.target, node.iter]
    if isinstance(node, ast.While | ast.If):
        return [node.test]
    if isinstance(node, ast.With | ast.AsyncWith):
        return list(node.items)
    if isinstance(node, ast.Match):  # its cases' patterns bind on their own lines: all of it
        return [node]
    return []


_INLINE = ("lambda", "listcomp", "setcomp", "dictcomp", "genexpr")
"""Symbol tables of code written inside a statement (its lines are the
statement's)."""


def _frame_names(table) -> frozenset[str]:
    """Names a frame of `table`'s function (or of the lambdas and
    comprehensions in it) can hold as locals."""
    names = {
        s.get_name()
        for s in table.get_symbols()
        if (s.is_local() or s.is_parameter() or s.is_free()) and s.get_name()[0] != "."
    }  # `.0`, a comprehension's iterator, is never recorded
    for child in table.get_children():
        if child.get_name() in _INLINE:
            names |= _frame_names(child)
    return frozenset(names)


def _table_of(table, node):
    """The symbol table of the function or class `node` defined in `table`'s
    scope; None if there is none to be found (then its names are not known)."""
    for child in table.get_children() if table is not None else ():
        if child.get_name() == node.name and child.get_lineno() == node.lineno:
            return child
    return None


def _defined_in(scope):
    """The functions and classes defined in `scope` itself, not in one
    nested in it."""
    import ast

    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node
        else:
            todo.extend(ast.iter_child_nodes(node))


def concurrent_context(context: str) -> bool:
    """Whether `context` is a concurrent program, by the recorder's own test
    (`distributed.recorder.is_concurrent`: it imports threading, asyncio or
    concurrent.futures, or embeds the runtime). Its frames carry an
    `[ACTOR] ` action prefix and `<send>`/`<recv>` actions, and `".."`
    refers to the previous frame *of the same actor*, which none of the
    rules here know: structural decoding steps aside there (no constraint)
    rather than refuse a true frame (docs/trace-format.md)."""
    from opencwm.distributed.recorder import is_concurrent

    return is_concurrent(context)


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
    ("colon3", '"'): "val0",
    ("post", ","): "comma",
    ("comma", " "): "obj",
    ("obj", '"'): "key",
    ("post", "}"): "done",
}
"""Moves of the locals object outside its strings, as `json.dumps` writes
it (`{"a": "1", "b": "2"}`), the only way the codec writes it."""


class KeyConstraint:
    """The locals' keys must be names written in the context, and where the
    previous frame fixes them, exactly its keys first.

    A key is a variable of the program, so it is an identifier of its
    source; a small model's other common mistake is to write a name that
    is frequent in its corpus instead (`n` for `numbers`). A line frame
    that continues the activation of the frame before it (a call or line
    frame) keeps that frame's keys in their order, since a function's
    locals only grow (Python keeps them in the order they were first
    bound), and appends the names bound since; only those carried keys may
    be `".."` (the codec's diff rule). On every corpus here that held for
    all such frames but those after a `del`, so a program with `del` keeps
    the order free. Values stay free otherwise. The JSON of the locals is
    followed character by character (the decoded text of each token):
    outside strings only its shape is allowed, and a key that is not a
    prefix of an allowed name, or is closed while not being one, is refused.
    """

    def __init__(
        self,
        names: set[str],
        texts: list[str],
        opens: set[int],
        action_sep: int,
        *,
        line_open: int | None = None,
        carried: tuple[str, ...] | None = None,
        ordered: bool = True,
        scope_names: frozenset[str] | None = None,
        specials: frozenset[int] = frozenset(),
        fixed: frozenset[str] = frozenset(),
        arg_sep: int | None = None,
        frame_sep: int | None = None,
        arg_events: frozenset[int] = frozenset(),
    ):
        """`texts[i]`: token i's decoded text; `opens`: the event tokens
        after which a locals object follows (`<|call_sep|>`, `<|line_sep|>`).
        `carried`: the keys of the previous frame if it is a call or line
        frame, `()` if it is another event or there is none, None if unknown
        (then keys are only checked to be names, and values not at all);
        they bind a locals object opened by `line_open` (`<|line_sep|>`).
        `ordered`: carried keys must come first, in order (off for a
        program that deletes names). `scope_names`: what a line object may
        hold besides, when the activation's function is known (its
        parameters, locals and free variables: `ScopeLines.names_after`).
        `specials`: the format's own tokens, which never occur inside the
        object (a stop token there would cut the frame short). `fixed`:
        carried keys whose value cannot have changed, written `".."` in a
        line object (`ScopeLines.unchanged_after`). `arg_sep`, `frame_sep`:
        a return value or exception after `<|arg_sep|>` is one JSON string,
        then the frame ends (a stop token inside it cut frames short);
        `arg_events` (`<|return_sep|>`, `<|exception_sep|>`) have one."""
        self.names = names
        self.texts = texts
        self.opens = opens
        self.action_sep = action_sep
        self.line_open = line_open
        self.carried = carried
        self.ordered = ordered
        self.scope_names = scope_names
        self.specials = specials
        self.fixed = fixed
        self.arg_sep = arg_sep
        self.frame_sep = frame_sep
        self.arg_events = arg_events
        self._needs_arg = False
        self._fixed: frozenset[str] = frozenset()  # for the object being written
        self._carry: tuple[str, ...] | None = None  # for the object being written
        self._pool = names  # the names its keys are drawn from
        # (where in the JSON, key so far, keys already written): None outside
        self.state: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def active(self) -> bool:
        """Inside a locals object: only there are tokens checked."""
        return self.state is not None

    def _allowed(self, used: tuple[str, ...]) -> set[str]:
        """The names the next key may be."""
        carry = self._carry
        if carry and self.ordered and len(used) < len(carry):
            return {carry[len(used)]}
        return self._pool - set(used)

    def _may_close(self, used: tuple[str, ...]) -> bool:
        return not (self._carry and self.ordered) or len(used) >= len(self._carry)

    def _walk(self, tok: int) -> tuple[str, str, tuple[str, ...]] | None:
        """The state after `tok`, or None if it writes a key that is not
        allowed (or one already written), a `".."` with no earlier value, or
        breaks the object's shape."""
        assert self.state is not None
        where, key, used = self.state
        for ch in self.texts[tok] if tok < len(self.texts) else "":
            if where == "key":
                allowed = self._allowed(used)
                if ch == '"' and key in allowed:
                    where, used = "colon", (*used, key)
                elif ch != '"' and any(n.startswith(key + ch) for n in allowed):
                    key += ch
                else:
                    return None
            elif where == "val0":  # a value's first character: `..` only for carried keys
                if ch == "." and self._carry is not None and key not in self._carry:
                    return None
                if key in self._fixed:
                    if ch != ".":
                        return None
                    where = "dot"
                else:
                    where = {"\\": "esc", '"': "post"}.get(ch, "val")
            elif where in ("dot", "dots"):  # the rest of a fixed key's `".."`
                if ch != ("." if where == "dot" else '"'):
                    return None
                where = "dots" if where == "dot" else "post"
            elif where == "val":
                where = {"\\": "esc", '"': "post"}.get(ch, "val")
            elif where == "esc":
                where = "val"
            elif where in ("arg0", "arg", "argesc"):  # a return value or exception: one string
                if where == "arg0":
                    if ch != '"':
                        return None
                    where = "arg"
                elif where == "argesc":
                    where = "arg"
                else:
                    where = {"\\": "argesc", '"': "argdone"}.get(ch, "arg")
            elif where == "argdone":
                return None  # only the frame's end may follow
            elif where == "needarg":  # the action line, to its newline (the trie checks it)
                where = "argnext" if ch == "\n" else "needarg"
            elif where == "argnext":
                return None
            elif ch == "}" and where in ("first", "post") and not self._may_close(used):
                return None  # carried keys still to come
            elif (where, ch) in (("first", '"'), ("post", ",")) and not self._allowed(used):
                return None  # no name is left to write: a key opened now could not end
            elif (where, ch) in _SHAPE:
                where = _SHAPE[where, ch]
                key = "" if where == "key" else key
            else:  # not the shape of a locals object: `{"name": "value", ...}`
                return None
        return where, key, used

    def accepts(self, tok: int) -> bool:
        if self.state is None:
            return True
        if self.state[0] == "argnext":  # a return or exception frame: its value comes next
            return tok == self.arg_sep
        if tok == self.frame_sep and self.state[0].startswith("arg"):
            return self.state[0] == "argdone"
        if tok == self.action_sep:
            return self.state[0] == "done"
        return tok not in self.specials and tok not in self.opens and self._walk(tok) is not None

    def advance(self, tok: int) -> None:
        if tok in self.opens:
            known = self.carried is not None
            self._carry = (self.carried if tok == self.line_open else ()) if known else None
            line = tok == self.line_open and self.scope_names is not None
            self._fixed = self.fixed if tok == self.line_open else frozenset()
            self._pool = self.scope_names | set(self._carry or ()) if line else self.names
            self.state = ("pre", "", ())
        elif tok in self.arg_events:
            self._needs_arg = True
        elif tok == self.action_sep:
            self.state = ("needarg", "", ()) if self._needs_arg else None
            self._needs_arg = False
        elif tok == self.frame_sep:
            self.state = None
        elif tok == self.arg_sep and self.arg_sep is not None:
            self.state = ("arg0", "", ())
        elif self.state is not None:
            self.state = self._walk(tok) or self.state


def last_frame(prompt: str) -> tuple[str, dict[str, str] | None, str, str | None] | None:
    """The prompt's last whole frame, parsed (`parse_frame`), a forced event
    token after it aside; an empty event when the context is all there is;
    None when it does not parse."""
    body = prompt.removesuffix(T.ACTION_SEP)
    for tok in T.EVENT_TOKENS.values():
        body = body.removesuffix(tok)
    if not body.endswith(T.FRAME_SEP):
        return None
    head, _, last = body[: -len(T.FRAME_SEP)].rpartition(T.FRAME_SEP)
    if not head:  # `last` is the context itself: no frame yet
        return "", None, "", None
    try:
        return parse_frame(last)
    except TraceFormatError:
        return None


def last_values(prompt: str) -> dict[str, str | None]:
    """The values of the prompt's last frame's locals, `".."` resolved by
    walking back through the frames of its activation (None where the
    window no longer shows the value, or a frame does not parse)."""
    _, _, frames = prompt.partition(T.FRAME_SEP)
    texts = frames.split(T.FRAME_SEP)[:-1]  # whole frames only
    out: dict[str, str | None] = {}
    todo: set[str] | None = None
    for text in reversed(texts):
        try:
            event, raw, _, _ = parse_frame(text)
        except TraceFormatError:
            break
        if event not in ("call", "line") or raw is None:
            break
        if todo is None:
            todo = set(raw)
            out = dict.fromkeys(raw)
        for k in list(todo):
            v = raw.get(k)
            if v is None:
                todo.discard(k)  # not in this frame: the `..` reached past its binding
            elif v != T.UNCHANGED:
                out[k] = v
                todo.discard(k)
        if not todo:
            break
    return out


def carried_keys(prompt: str) -> tuple[str, ...] | None:
    """The keys a line frame written next carries over (see `KeyConstraint`):
    those of the prompt's last frame if it is a call or line frame, `()`
    after any other event or at the first frame, None if that frame does
    not parse."""
    last = last_frame(prompt)
    if last is None:
        return None
    event, raw, _, _ = last
    return tuple(raw) if event in ("call", "line") and raw is not None else ()


def deletes_names(context: str) -> bool:
    """Whether the program can make a local go away: a `del` statement, or
    an `except ... as name:` clause (Python deletes `name` when the handler
    ends)."""
    import re

    return re.search(r"(^|[\s;:])del\s|\bexcept\b[^\n:]*\bas\s", context, re.M) is not None


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
