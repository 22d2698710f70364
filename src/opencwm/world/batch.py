"""Many prompts decoded side by side: one forward per token for a whole batch.

An evaluation asks for thousands of frames; one at a time, a small model on
a CPU spends its time in per-call overhead, not arithmetic. `BatchDecoder`
answers a list of prompts with one forward per generated token for all of
them, each row under its own constraints (`constrain.py`), so that greedy
decoding writes what `LocalBackend.complete` writes for each prompt alone.

How rows share work, and why the result stays the same:

- **Shared prefixes are encoded once.** A prompt that is a prefix of
  another in the same call (the teacher-forced steps of one trace) reads
  its keys and values from the longer one's forward: in a causal model the
  first L positions of a sequence do not depend on what follows them.
- **Rows outlive the call.** The rows' caches are kept; a later prompt that
  extends one of them (a rollout's next step, the next chunk of a trace)
  only encodes its new tokens, as the sequential backend's KV cache does.
- **Holes, not copies.** Rows of different lengths share one cache tensor;
  a per-row attention mask hides the columns a row does not own (padding,
  another prompt's tail, tokens dropped after a divergence), and explicit
  position ids give each real token the position it has when decoded
  alone. Only real keys are attended to, in their original order, at their
  original positions: the same computation up to floating-point rounding.
  Finished rows leave the batch at once, and the kept cache is compacted
  (holes squeezed out) at the end of each call.

Limit: the mask's sliding window counts cache columns, not positions, so a
model whose sliding window is shorter than a call could need (the columns
of the kept cache, the new tokens, `max_tokens`) is decoded one prompt at
a time instead. The bundled models' window is their whole context.
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
    last: int  # cache column of its prompt's last token
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
            reuse[r] = (n, best[1]) if n > 0 else (0, -1)
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
        prompt of these roots: its root's row, the logits after its last
        token and that token's column)."""
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
        at = {
            k: (row[root_of[k]], out.logits[row[root_of[k]], keep_cols.index(cols[k])], cols[k])
            for k in members
        }
        return [(g.keys, g.values) for g in layers], mask, at

    def _decode(self, unique, prompts: list[str], plan, sampling: Sampling) -> list[str]:
        torch, b = self.b.torch, self.b
        from transformers.cache_utils import Cache

        from opencwm.world.backends import choose

        root_of, reuse, groups, width = plan
        dev, c = b.device, b.model.config
        shape = (len(unique), c.num_key_value_heads, width + sampling.max_tokens, c.head_dim)
        bufs = [
            tuple(torch.zeros(shape, dtype=b.model.dtype, device=dev) for _ in "kv")
            for _ in range(c.num_hidden_layers)
        ]
        mask = torch.zeros(len(unique), width, dtype=torch.long, device=dev)
        logits, last = [None] * len(unique), [0] * len(unique)
        for roots, kept, new in groups:
            layers, pmask, at = self._prefill(unique, root_of, reuse, roots, kept, new)
            off = width - (kept + new)  # left padding of this group
            dst = torch.tensor(list(at), device=dev)
            src = torch.tensor([row for row, _, _ in at.values()], device=dev)
            for (bk, bv), (k, v) in zip(bufs, layers, strict=True):
                bk[dst, :, off:width], bv[dst, :, off:width] = k[src], v[src]
            mask[dst, off:] = pmask[src]
            for k, (_, lg, col) in at.items():
                logits[k], last[k] = lg, off + col
        rows = []
        for k, u in enumerate(unique):
            guide, keys = b._constraint(prompts[k]) if sampling.constrain else (None, None)
            gen = torch.Generator(device="cpu").manual_seed(sampling.seed)
            rows.append(_Row(list(u), last[k], guide, keys, gen))
            mask[k, last[k] + 1 :] = 0  # its root's tokens after this prompt's end
        cache = Cache(layers=[_Grown(bk, bv, width) for bk, bv in bufs])
        logits = torch.stack(logits)
        active = list(range(len(rows)))
        finished: list[tuple[int, list, object]] = []  # (row, per-layer keys/values, mask)
        extra = b.tokenizer.convert_tokens_to_ids(list(sampling.stop_tokens))
        stop_ids, cancel = b.stop_ids | set(extra), sampling.cancel
        for step in range(sampling.max_tokens):
            if cancel is not None and cancel.is_set():
                finished += [(i, _take(cache, a), mask[a]) for a, i in enumerate(active)]
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
                    finished.append((i, _take(cache, a), mask[a]))
                else:
                    going.append(a)
            if step == sampling.max_tokens - 1 or not going:
                finished += [(active[a], _take(cache, a), mask[a]) for a in going]
                break
            if len(going) < len(active):
                sel = torch.tensor(going, device=b.device)
                cache.batch_select_indices(sel)
                mask = mask[sel]
                active = [active[a] for a in going]
            toks = [rows[i].out[-1] for i in active]
            for i in active:
                rows[i].ids.append(rows[i].out[-1])
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
            pos = torch.tensor([[len(rows[i].ids) - 1] for i in active], device=b.device)
            with torch.no_grad():
                out = b.model(
                    input_ids=torch.tensor([[t] for t in toks], device=b.device),
                    attention_mask=mask,
                    position_ids=pos,
                    cache=cache,
                    use_cache=True,
                )
            cache, logits = out.cache, out.logits[:, -1]
        self._keep(rows, finished)
        return [b.tokenizer.decode(r.out, skip_special_tokens=False) for r in rows]

    def _keep(self, rows: list[_Row], finished) -> None:
        """Compact the finished rows into the kept cache: each row's real
        columns, in order, right-aligned (left padding)."""
        torch = self.b.torch
        kept = []
        for i, layers, mask in finished:
            cols = mask.nonzero().squeeze(1)
            assert len(cols) == len(rows[i].ids), (len(cols), len(rows[i].ids))
            kept.append((rows[i].ids, [(k[..., cols, :], v[..., cols, :]) for k, v in layers]))
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


def _take(cache, a: int) -> list:
    """Row `a`'s keys and values, copied out of the batch."""
    return [
        (layer.keys[a : a + 1].clone(), layer.values[a : a + 1].clone()) for layer in cache.layers
    ]


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
