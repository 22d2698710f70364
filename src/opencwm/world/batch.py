"""Many prompts decoded side by side: one forward per token for a whole batch.

An evaluation asks for thousands of frames; one at a time, a small model on
a CPU spends its time in per-call overhead, not arithmetic. `BatchDecoder`
answers a list of prompts with one forward per generated token for all of
them, each row under its own constraints (`constrain.py`), so that greedy
decoding writes what `LocalBackend.complete` writes for each prompt alone.

How rows share work, and why the result stays the same:

- **Shared prefixes are encoded once, and read once.** A prompt that is a
  prefix of another in the same call (the teacher-forced steps of one
  trace) takes its keys and values from the longer one's forward: in a
  causal model the first L positions do not depend on what follows. While
  decoding, those keys stay one copy per root: each step's attention
  (`_shared_prefix_attention`) reads a root's columns once for all its
  rows, then each row's own tokens. On a CPU a wide batch is bound by
  reading keys, so a trace's 16 steps cost about one prompt's reading.
- **Rows outlive the call.** The rows' keys and values are kept; a later
  prompt that extends one (a rollout's next step, the next chunk of a
  trace) only encodes its new tokens, as the sequential backend's KV cache
  does.
- **Masks and positions, not copies.** Prompts of different lengths share
  columns; a per-row mask hides those a row does not own (padding, its
  root's tokens after its own end, tokens dropped after a divergence), and
  explicit position ids give each token the position it has when decoded
  alone. Only a row's own keys are attended to, in their order, at their
  positions: the same computation up to floating-point rounding. Finished
  rows leave the batch at once; the kept rows are compacted at the end of
  each call.

Limit: transformers' masks count sliding windows in columns, not positions,
so a model whose sliding window is shorter than a call could need (kept
columns, new tokens, `max_tokens`) is decoded one prompt at a time. The
bundled models' window is their whole context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from transformers.cache_utils import DynamicLayer

if TYPE_CHECKING:
    from opencwm.world.backends import LocalBackend, Sampling


@dataclass
class _Row:
    """One prompt being decoded: where its keys sit and what it has written."""

    ids: list[int]  # tokens whose keys/values are in the cache, in order
    guide: object
    keys: object
    gen: object
    out: list[int] = field(default_factory=list)


class BatchDecoder:
    """The batched decoding state of one `LocalBackend` (see the module doc)."""

    def __init__(self, backend: LocalBackend) -> None:
        self.b = backend
        self.rows: list[tuple[int, ...]] = []  # kept rows' tokens, compact and left-padded
        self.cache: list[_Grown] = []  # their keys/values, (rows, heads, width, dim) per layer

    def width(self) -> int:
        return max(map(len, self.rows), default=0)

    def complete(self, prompts: list[str], sampling: Sampling) -> list[str]:
        b = self.b
        encoded = b.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        unique = list(dict.fromkeys(tuple(ids) for ids in encoded))
        assert all(unique), "an empty prompt has no next-token logits"
        plan = self._plan(unique, sampling.max_tokens)
        if plan is None:  # a sliding window shorter than the batch would need
            return [b.complete(p, sampling) for p in prompts]
        text = {tuple(ids): p for ids, p in zip(encoded, prompts, strict=True)}
        replies = self._decode(unique, [text[u] for u in unique], plan, sampling)
        reply_of = dict(zip(unique, replies, strict=True))
        return [reply_of[tuple(ids)] for ids in encoded]

    def _plan(self, unique: list[tuple[int, ...]], max_tokens: int):
        """(root of each prompt, prefill groups, cache width), or None when
        the batch would pass the sliding window. A root is a prompt no other
        prompt of the call extends. Roots that extend a kept row and roots
        encoded afresh are prefilled apart and meet left-padded, so a new
        prompt beside long kept rows costs its own length, not theirs."""
        roots: list[int] = []
        root_of: list[int] = [0] * len(unique)
        for k in sorted(range(len(unique)), key=lambda k: -len(unique[k])):
            u = unique[k]
            root_of[k] = next((r for r in roots if unique[r][: len(u)] == u), k)
            if root_of[k] == k:
                roots.append(k)
        shortest = {
            r: min(len(unique[k]) for k in range(len(unique)) if root_of[k] == r) for r in roots
        }
        reuse = {}
        for r in roots:
            best = max(
                ((_common(row, unique[r]), j) for j, row in enumerate(self.rows)), default=(0, -1)
            )
            n = min(best[0], shortest[r] - 1)  # each prompt's last token is fed, for its logits
            # a kept row is worth its columns if it holds at least half the prompt
            # (every prompt shares its first tokens with every other)
            reuse[r] = (n, best[1]) if n > 0 and 2 * n >= len(unique[r]) else (0, -1)
        old = [r for r in roots if reuse[r][1] >= 0]
        fresh = [r for r in roots if reuse[r][1] < 0]
        groups = []
        if old:
            new = max(len(unique[r]) - reuse[r][0] for r in old)
            groups.append((old, self.width(), new))
        if fresh:
            groups.append((fresh, 0, max(len(unique[r]) for r in fresh)))
        width = max(kept + new for _, kept, new in groups)
        if width + max_tokens > self.b._window:
            reuse = {r: (0, -1) for r in roots}
            width = max(len(unique[r]) for r in roots)
            groups = [(roots, 0, width)]
            if width + max_tokens > self.b._window:
                return None
        return root_of, reuse, groups, width

    def _prefill(self, unique, root_of, reuse, roots, kept: int, new: int):
        """One forward over `roots`' new tokens, on top of the kept rows they
        extend. Returns (per layer keys and values, mask, and for every
        prompt of these roots: the logits after its last token and that
        token's column)."""
        torch, b = self.b.torch, self.b
        from transformers.cache_utils import Cache

        dev = b.device
        mask = torch.zeros(len(roots), kept + new, dtype=torch.long, device=dev)
        ids = torch.full((len(roots), new), b.pad_id, dtype=torch.long, device=dev)
        pos = torch.zeros(len(roots), new, dtype=torch.long, device=dev)
        for i, r in enumerate(roots):
            n, j = reuse[r]
            if j >= 0:  # the kept row's first n tokens, right-aligned in the kept columns
                start = kept - len(self.rows[j])
                mask[i, start : start + n] = 1
            suffix = unique[r][n:]
            mask[i, kept + new - len(suffix) :] = 1
            ids[i, new - len(suffix) :] = torch.tensor(suffix, device=dev)
            pos[i, new - len(suffix) :] = torch.arange(n, len(unique[r]), device=dev)
        c = b.model.config
        layers = []
        src = torch.tensor([max(reuse[r][1], 0) for r in roots], device=dev)
        for layer in range(c.num_hidden_layers):
            shape = (len(roots), c.num_key_value_heads, kept + new, c.head_dim)
            k = torch.zeros(shape, dtype=b.model.dtype, device=dev)
            v = torch.zeros_like(k)
            if kept:
                k[:, :, :kept], v[:, :, :kept] = (
                    self.cache[layer].keys[src],
                    self.cache[layer].values[src],
                )
            layers.append(_Grown(k, v, kept))
        # where each prompt's last token lands
        row = {r: i for i, r in enumerate(roots)}
        members = [k for k in range(len(unique)) if root_of[k] in row]
        cols = {}
        for k in members:
            r, n = root_of[k], reuse[root_of[k]][0]
            cols[k] = kept + new - (len(unique[r]) - n) + (len(unique[k]) - 1 - n)
        keep_cols = sorted(set(cols.values()))
        with torch.no_grad():
            out = b.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                cache=Cache(layers=layers),
                use_cache=True,
                logits_to_keep=torch.tensor([c - kept for c in keep_cols], device=dev),
            )
        at = {k: (out.logits[row[root_of[k]], keep_cols.index(cols[k])], cols[k]) for k in members}
        return [(g.keys, g.values) for g in layers], mask, at

    def _decode(self, unique, prompts: list[str], plan, sampling: Sampling) -> list[str]:
        torch, b = self.b.torch, self.b
        from transformers.cache_utils import Cache

        from opencwm.world.backends import choose

        root_of, reuse, groups, width = plan
        dev, c = b.device, b.model.config
        order = [r for roots, _, _ in groups for r in roots]
        at_root = {r: i for i, r in enumerate(order)}
        shape = (len(order), c.num_key_value_heads, width, c.head_dim)
        prefix, seen = None, None
        logits, last = [None] * len(unique), [0] * len(unique)
        for roots, kept, new in groups:
            layers, gmask, at = self._prefill(unique, root_of, reuse, roots, kept, new)
            if len(groups) == 1:  # the usual case: its keys are the prefix, no copy
                prefix, seen = layers, gmask.bool()
                for k, (lg, col) in at.items():
                    logits[k], last[k] = lg, col
                break
            if prefix is None:
                prefix = [
                    tuple(torch.zeros(shape, dtype=b.model.dtype, device=dev) for _ in "kv")
                    for _ in range(c.num_hidden_layers)
                ]
                seen = torch.zeros(len(order), width, dtype=torch.bool, device=dev)
            off = width - (kept + new)  # left padding of this group
            dst = torch.tensor([at_root[r] for r in roots], device=dev)
            for (pk, pv), (k, v) in zip(prefix, layers, strict=True):
                pk[dst, :, off:], pv[dst, :, off:] = k, v
            seen[dst, off:] = gmask.bool()
            for k, (lg, col) in at.items():
                logits[k], last[k] = lg, off + col
        rows = []
        for k, u in enumerate(unique):
            guide, keys = b._constraint(prompts[k]) if sampling.constrain else (None, None)
            gen = torch.Generator(device="cpu").manual_seed(sampling.seed)
            rows.append(_Row(list(u), guide, keys, gen))
        shared = _Shared(prefix, seen, [at_root[root_of[k]] for k in range(len(unique))], last)
        shape = (len(unique), c.num_key_value_heads, sampling.max_tokens, c.head_dim)
        own = Cache(
            layers=[
                _Grown(*(torch.zeros(shape, dtype=b.model.dtype, device=dev) for _ in "kv"), 0)
                for _ in range(c.num_hidden_layers)
            ]
        )
        logits = torch.stack(logits)
        active = list(range(len(rows)))
        finished: list[tuple[int, list | None]] = []  # (row, its keys/values per layer)

        def keep(a: int, i: int) -> list | None:
            """Row `a`'s keys and values if worth keeping: a prompt another of
            this call extends (a trace's earlier step) will not be extended
            again, its root will; so memory holds one row per chain."""
            return shared.take(own, a) if root_of[i] == i else None

        extra = b.tokenizer.convert_tokens_to_ids(list(sampling.stop_tokens))
        stop_ids, cancel = b.stop_ids | set(extra), sampling.cancel
        for step in range(sampling.max_tokens):
            if cancel is not None and cancel.is_set():
                finished += [(i, keep(a, i)) for a, i in enumerate(active)]
                break
            going = []
            for a, i in enumerate(active):
                r = rows[i]
                tok = choose(torch, logits[a], r.guide, r.keys, sampling, r.gen)
                r.out.append(tok)
                if r.guide:
                    r.guide.advance(tok)
                if r.keys:
                    r.keys.advance(tok)
                if tok in stop_ids:
                    finished.append((i, keep(a, i)))
                else:
                    going.append(a)
            if step == sampling.max_tokens - 1 or not going:
                finished += [(active[a], keep(a, active[a])) for a in going]
                break
            if len(going) < len(active):
                sel = torch.tensor(going, device=b.device)
                own.batch_select_indices(sel)
                shared.select(going)
                active = [active[a] for a in going]
            for i in active:
                rows[i].ids.append(rows[i].out[-1])
            pos = torch.tensor([[len(rows[i].ids) - 1] for i in active], device=b.device)
            with torch.no_grad(), _attention(b.model, SHARED_PREFIX):
                out = b.model(
                    input_ids=torch.tensor([[rows[i].out[-1]] for i in active], device=dev),
                    attention_mask={"full_attention": shared, "sliding_attention": shared},
                    position_ids=pos,
                    cache=own,
                    use_cache=True,
                )
            logits = out.logits[:, -1]
        self._keep(rows, finished)
        return [b.tokenizer.decode(r.out, skip_special_tokens=False) for r in rows]

    def _keep(self, rows: list[_Row], finished) -> None:
        """Keep the finished rows for the next call: each row's keys and
        values, holes squeezed out, right-aligned (left padding)."""
        torch = self.b.torch
        kept = [(rows[i].ids, layers) for i, layers in finished if layers is not None]
        for ids, layers in kept:
            assert layers[0][0].shape[-2] == len(ids), (layers[0][0].shape, len(ids))
        width = max(len(ids) for ids, _ in kept)
        layers = []
        for layer in range(len(kept[0][1])):
            ks, vs = [], []
            for ids, per_layer in kept:
                k, v = per_layer[layer]
                pad = (0, 0, width - len(ids), 0)
                ks.append(torch.nn.functional.pad(k, pad))
                vs.append(torch.nn.functional.pad(v, pad))
            layers.append(_Grown(torch.cat(ks), torch.cat(vs), width))
        self.rows, self.cache = [tuple(ids) for ids, _ in kept], layers


SHARED_PREFIX = "opencwm_shared_prefix"


class _Shared:
    """The prompts' keys and values while a batch decodes: one copy per root,
    however many prompts share it, each row seeing its own columns of it.
    Passed to the model as its attention mask (the model hands it, as it
    is, to `_shared_prefix_attention`); the tokens the rows write go to the
    ordinary per-row cache, which is the same length for every row."""

    def __init__(self, prefix, seen, root: list[int], last: list[int]) -> None:
        import torch

        self.prefix = prefix  # per layer (keys, values): (roots, heads, width, dim)
        self.root = torch.tensor(root)  # each row's root
        self.seen = seen[self.root].clone()  # (rows, width): the columns each row attends to
        for i, col in enumerate(last):
            self.seen[i, col + 1 :] = False  # its root's tokens after its own prompt
        self._group()

    def _group(self) -> None:
        """Rows by root: a root's keys are read once for all its rows."""
        import torch

        roots = self.root.tolist()
        self.solo = roots == list(range(len(self.prefix[0][0]))) and len(roots) == len(set(roots))
        self.groups = [
            (r, torch.tensor([i for i, x in enumerate(roots) if x == r]))
            for r in sorted(set(roots))
        ]

    def select(self, rows: list[int]) -> None:
        """Keep these rows (the others finished); a root no row reads is dropped."""
        import torch

        idx = torch.tensor(rows)
        self.root, self.seen = self.root[idx], self.seen[idx]
        used = sorted(set(self.root.tolist()))
        if len(used) < len(self.prefix[0][0]):
            keep = torch.tensor(used)
            self.prefix = [(k[keep], v[keep]) for k, v in self.prefix]
            self.root = torch.tensor([used.index(r) for r in self.root.tolist()])
        self._group()

    def take(self, own: object, a: int) -> list:
        """Row `a`'s keys and values, its own columns only, in order."""
        import torch

        r, cols = int(self.root[a]), self.seen[a].nonzero().squeeze(1)
        return [
            (
                torch.cat([k[r : r + 1, :, cols], layer.keys[a : a + 1]], dim=2),
                torch.cat([v[r : r + 1, :, cols], layer.values[a : a + 1]], dim=2),
            )
            for (k, v), layer in zip(self.prefix, own.layers, strict=True)
        ]


def _shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    """One decoding step's attention over a root's columns (read once per
    root) and each row's own tokens: softmax over both, as if they were one
    sequence. query: (rows, heads, 1, dim); key, value: (rows, kv_heads,
    own, dim)."""
    import torch

    shared: _Shared = attention_mask
    pk, pv = shared.prefix[module.layer_idx]
    rows, heads, q_len, dim = query.shape
    kv = key.shape[1]
    assert q_len == 1, "shared-prefix attention decodes one token at a time"
    q = query.reshape(rows, kv, heads // kv, dim)  # head h reads kv head h // (heads / kv)
    width = pk.shape[2]
    if shared.solo:
        on_prefix = q @ pk.transpose(-1, -2)  # (rows, kv, heads/kv, width)
    else:
        on_prefix = q.new_empty(rows, kv, heads // kv, width)
        for r, idx in shared.groups:  # (kv, n * heads/kv, dim) @ (kv, dim, width)
            qr = q[idx].transpose(0, 1).reshape(kv, -1, dim)
            on_prefix[idx] = (
                (qr @ pk[r].transpose(-1, -2)).view(kv, len(idx), -1, width).transpose(0, 1)
            )
    on_prefix.masked_fill_(~shared.seen[:, None, None, :], float("-inf"))
    on_own = q @ key.transpose(-1, -2)
    weights = torch.softmax(torch.cat([on_prefix, on_own], dim=-1) * scaling, dim=-1)
    w_prefix, w_own = weights[..., :width], weights[..., width:]
    out = w_own @ value
    if shared.solo:
        out += w_prefix @ pv
    else:
        for r, idx in shared.groups:
            wr = w_prefix[idx].transpose(0, 1).reshape(kv, -1, width)
            out[idx] += (wr @ pv[r]).view(kv, len(idx), -1, dim).transpose(0, 1)
    return out.reshape(rows, 1, heads, dim), None


class _attention:
    """Within: the model's attention is `name` (its config names one)."""

    def __init__(self, model, name: str) -> None:
        self.config, self.name = model.config, name

    def __enter__(self) -> None:
        from transformers import AttentionInterface

        if self.name not in AttentionInterface._global_mapping:
            AttentionInterface.register(self.name, _shared_prefix_attention)
        self.before = self.config._attn_implementation
        self.config._attn_implementation = self.name

    def __exit__(self, *exc) -> None:
        self.config._attn_implementation = self.before


class _Grown(DynamicLayer):
    """A cache layer with room to grow: each new token's keys and values are
    written in place, where transformers' `DynamicLayer` would copy the whole
    cache (`torch.cat`) at every token, the main cost of a wide batch."""

    def __init__(self, keys, values, n: int) -> None:
        """`keys`, `values`: (rows, heads, room, dim) buffers, the first `n`
        columns filled."""
        super().__init__()
        self.k, self.v = keys, values
        self.n, self.device, self.is_initialized = n, keys.device, True
        self._view()

    def _view(self) -> None:
        self.keys, self.values = self.k[:, :, : self.n], self.v[:, :, : self.n]

    def update(self, keys, values, *args, **kwargs):
        m = keys.shape[-2]
        assert self.n + m <= self.k.shape[-2], (self.n, m, self.k.shape)
        self.k[:, :, self.n : self.n + m] = keys
        self.v[:, :, self.n : self.n + m] = values
        self.n += m
        self._view()
        return self.keys, self.values

    def batch_select_indices(self, indices) -> None:
        self.k, self.v = self.k[indices], self.v[indices]
        self._view()


def _common(a, b) -> int:
    """Length of the common prefix of two token sequences."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if a[:mid] == b[:mid] else (lo, mid)
    return lo
