"""Where frames come from: a local HF model or an OpenAI-compatible server.

A backend answers one question: given the token sequence so far, what
text follows, up to the end of the next frame? Both backends speak text
at the boundary so the rollout never depends on one tokenizer; the local
one keeps its KV cache across calls, so a rollout that only appends to
its prompt never re-encodes the history.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from opencwm.trace import tokens as T
from opencwm.world.constrain import (
    ActionConstraint,
    ChoiceTrie,
    KeyConstraint,
    LineTrie,
    ScopeLines,
    carried_keys,
    concurrent_context,
    context_names,
    context_of,
    deletes_names,
    last_frame,
    last_values,
)

STOPS = (T.FRAME_SEP, T.END_OF_TEXT)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0
    max_tokens: int = 512
    constrain: bool = True
    """In a rollout, the action line must be one of the context's lines, the
    locals' keys names of the context (`constrain.py`): token by token in a
    local model and in `opencwm serve`; as `structured_outputs` request
    fields for other servers that take them (vLLM; `guided.py`), freely
    after one warning for those that do not."""
    stop_tokens: tuple[str, ...] = ()
    """Special tokens that also end the completion besides `STOPS` (a chat
    template's end of turn); each one token of the model's vocabulary."""
    choice: tuple[str, ...] = ()
    """Local models: the completion is exactly one of these (none a prefix
    of another): `opencwm serve`'s `structured_outputs.choice`."""
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)
    """Set from another thread to stop decoding before the next token (the
    server's client hung up); the text so far is returned."""


class BackendError(RuntimeError):
    """The backend could not answer (endpoint down, bad reply); one line."""


class Backend(Protocol):
    context_tokens: int

    def complete(self, prompt: str, sampling: Sampling) -> str:
        """Text after `prompt` up to and including the first stop token
        (`<|frame_sep|>` or `<|end_of_text|>`), or until `max_tokens`."""
        ...

    def count_tokens(self, text: str) -> int: ...


class LocalBackend:
    """A model directory in HF layout, run with transformers on CPU or GPU."""

    def __init__(self, path: str, device: str | None = None, cpu_threads: int | None = 1) -> None:
        """`cpu_threads`: decoding one sequence with a small model gains little
        from more threads and loses much when cores are shared (measured 20x
        slower with 2 threads on a busy 2-core machine); None keeps torch's."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        if cpu_threads and not torch.cuda.is_available():
            torch.set_num_threads(cpu_threads)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.context_tokens = int(self.model.config.max_position_embeddings)
        self._window = getattr(self.model.config, "sliding_window", None) or float("inf")
        self.stop_ids = {self.tokenizer.convert_tokens_to_ids(t) for t in STOPS}
        self._ids: list[int] = []  # tokens whose keys/values are in the cache
        self._cache = None
        self._next_logits = None
        self.reuse_cache = True
        # per context seen lately (a batch decodes several programs at once):
        # its lines' trie, its names, its functions' lines and their tries
        self._tries: dict[str, tuple[LineTrie, set[str], ScopeLines, dict]] = {}
        self._batch = None  # the `BatchDecoder`, made on first use
        self.pad_id = self.tokenizer.pad_token_id or 0  # only ever under a zero mask
        self._texts: list[str] | None = None  # each token's text, for the key constraint
        self.generated_tokens = 0  # by the last `complete`: the server's usage counts these

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def forget(self) -> None:
        """Drop the KV cache, so the next call encodes its whole prompt: the
        baseline that `benchmarks/debug_step.py` measures prompt reuse against."""
        self._ids, self._cache, self._next_logits = [], None, None

    def _feed(self, ids: list[int]):
        """Logits after `ids`, reusing the cache for the longest shared prefix."""
        torch = self.torch
        from transformers import DynamicCache

        n = 0
        if self.reuse_cache and self._cache is not None:
            limit = min(len(ids), len(self._ids))
            while n < limit and ids[n] == self._ids[n]:
                n += 1
            if n == len(ids) == len(self._ids):
                return self._next_logits
            n = min(n, len(ids) - 1)  # at least one new token, for its logits
            if n < len(self._ids) and len(self._ids) >= self._window:
                n = 0  # sliding-window layers have dropped keys a cut-back cache would need
            if 0 < n < len(self._ids):
                self._cache.crop(n - len(self._ids))
        if n == 0:
            self._cache = DynamicCache(config=self.model.config)
        x = torch.tensor([ids[n:]], device=self.device)
        with torch.no_grad():
            out = self.model(input_ids=x, cache=self._cache, use_cache=True)
        self._cache = out.cache
        self._ids = list(ids)
        self._next_logits = out.logits[0, -1]
        return self._next_logits

    def complete(self, prompt: str, sampling: Sampling) -> str:
        torch = self.torch
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        gen = torch.Generator(device="cpu").manual_seed(sampling.seed)
        out: list[int] = []
        guide, keys = self._constraint(prompt) if sampling.constrain else (None, None)
        if sampling.choice:  # a walk down the choices' trie from its root, to a leaf
            guide, keys = ActionConstraint(self._choice_trie(sampling.choice), -1, True), None
        extra = self.tokenizer.convert_tokens_to_ids(list(sampling.stop_tokens))
        stop_ids, cancel = self.stop_ids | set(extra), sampling.cancel
        logits = self._feed(ids)
        for _ in range(sampling.max_tokens):
            if cancel is not None and cancel.is_set():
                break
            tok = choose(torch, logits, guide, keys, sampling, gen)
            out.append(tok)
            if guide:
                guide.advance(tok)
            if keys:
                keys.advance(tok)
            if tok in stop_ids or (sampling.choice and guide.node is None):
                break
            logits = self._extend(tok) if self.reuse_cache else self._feed([*ids, *out])
        self.generated_tokens = len(out)
        return self.tokenizer.decode(out, skip_special_tokens=False)

    def complete_batch(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """`complete` for each prompt, decoded side by side (`batch.py`):
        greedy replies are those of `complete` up to floating-point rounding."""
        from opencwm.world.batch import BatchDecoder

        if self._batch is None:
            self._batch = BatchDecoder(self)
        return self._batch.complete(prompts, sampling)

    def _choice_trie(self, choices: tuple[str, ...]) -> ChoiceTrie:
        tok = self.tokenizer.backend_tokenizer
        return ChoiceTrie(
            list(choices),
            lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)],
        )

    def _constraint(self, prompt: str) -> tuple[ActionConstraint | None, KeyConstraint | None]:
        context = context_of(prompt)
        if context is None or concurrent_context(context):
            return None, None  # a concurrent program's frames: no rule here knows actors
        tok = self.tokenizer.backend_tokenizer

        def encode(lines: list[str]) -> list[list[int]]:
            return [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)]

        if context not in self._tries:
            if len(self._tries) >= 64:
                self._tries.pop(next(iter(self._tries)))
            self._tries[context] = (
                LineTrie(context, encode),
                context_names(context),
                ScopeLines(context),
                {},
            )
        trie, names, scopes, scoped_tries = self._tries[context]
        if self._texts is None:
            self._texts = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        ids = self.tokenizer.convert_tokens_to_ids
        action_sep, opens = ids(T.ACTION_SEP), {ids(T.CALL_SEP), ids(T.LINE_SEP)}
        last = last_frame(prompt)
        scope_names = None
        fixed: frozenset[str] = frozenset()
        by_event: dict[int, LineTrie] = {}
        if last is not None:
            scope_names = scopes.names_after(last[0], last[2])
            fixed = scopes.unchanged_after(last[0], last[2], last_values(prompt))
            for event, allowed in (scopes.after(last[0], last[2]) or {}).items():
                if allowed not in scoped_tries:
                    lines_ = [line + "\n" for line in allowed]
                    scoped_tries[allowed] = ChoiceTrie(lines_, encode)
                by_event[ids(T.EVENT_TOKENS[event])] = scoped_tries[allowed]
        forced = next((t for t in T.EVENT_TOKENS.values() if prompt.endswith(t)), None)
        lines = ActionConstraint(
            trie,
            action_sep,
            prompt.endswith(T.ACTION_SEP),
            by_event=by_event,
            event=ids(forced) if forced else None,
        )
        keys = KeyConstraint(
            names,
            self._texts,
            opens,
            action_sep,
            line_open=ids(T.LINE_SEP),
            carried=carried_keys(prompt),
            ordered=not deletes_names(context),
            scope_names=scope_names,
            specials=frozenset(ids(list(T.SPECIAL_TOKENS))),
            fixed=fixed,
            arg_sep=ids(T.ARG_SEP),
            frame_sep=ids(T.FRAME_SEP),
            arg_events=frozenset(ids([T.RETURN_SEP, T.EXCEPTION_SEP])),
        )
        if forced is not None:
            keys.advance(ids(forced))
        return lines, keys

    def _extend(self, tok: int):
        """Logits after one more token: the cache already holds everything before it."""
        with self.torch.no_grad():
            out = self.model(
                input_ids=self.torch.tensor([[tok]], device=self.device),
                cache=self._cache,
                use_cache=True,
            )
        self._cache = out.cache
        self._ids.append(tok)
        self._next_logits = out.logits[0, -1]
        return self._next_logits


def choose(torch, logits, guide, keys, sampling: Sampling, gen) -> int:
    """The next token from one row's logits under its constraints: the one
    rule that sequential and batched decoding (`batch.py`) both follow."""
    allowed = guide.allowed() if guide else None
    if allowed is None and keys is not None and keys.active:
        # the likeliest first (usually enough), else every token
        top = torch.topk(logits, min(64, logits.numel())).indices.tolist()
        allowed = [t for t in top if keys.accepts(t)]
        allowed = allowed or [t for t in range(logits.numel()) if keys.accepts(t)] or None
    if allowed is not None:
        keep = logits[allowed]
        logits = torch.full_like(logits, float("-inf"))
        logits[allowed] = keep
    return _pick(torch, logits, sampling, gen)


def _pick(torch, logits, s: Sampling, gen) -> int:
    if s.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / s.temperature, -1).cpu()
    if s.top_p < 1.0:
        sorted_p, idx = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < s.top_p
        probs = torch.zeros_like(probs).scatter(0, idx[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


class EndpointBackend:
    """Any OpenAI-compatible `/v1/completions` server (vLLM serving
    facebook/cwm, or `opencwm serve`). Special tokens go in as text: the
    server's tokenizer must map them to single ids, as ours do.

    `structured`: constrain a rollout's frames through the server's
    `structured_outputs` (`guided.py`); `connect` turns it off for
    `opencwm serve`, which constrains them itself."""

    def __init__(
        self,
        url: str,
        model: str = "",
        timeout_s: float = 60.0,
        context_tokens: int = 131072,
        structured: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.context_tokens = context_tokens
        self.structured = structured
        self.refused: set[str] = set()  # constraint kinds the server refused or ignored

    def count_tokens(self, text: str) -> int:
        return len(text) // 3  # no tokenizer here: a conservative estimate

    def complete(self, prompt: str, sampling: Sampling) -> str:
        if sampling.constrain and self.structured:
            context = context_of(prompt)
            if context is not None and not concurrent_context(context):
                from opencwm.world.guided import guided_complete

                return guided_complete(self, prompt, sampling, context)
        return self.request(prompt, sampling, sampling.max_tokens)[0]

    def request(
        self,
        prompt: str,
        sampling: Sampling,
        max_tokens: int,
        stop: tuple[str, ...] = STOPS,
        extra: dict | None = None,
    ) -> tuple[str, int]:
        """(text, tokens it took) of one completion; a stop token that ended
        it is in the text. `extra`: more request fields (a constraint);
        a 400 or 422 then is `ConstraintRefused`."""
        import httpx

        body = {
            "model": self.model or "default",
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            "stop": list(stop),
            "skip_special_tokens": False,
            "include_stop_str_in_output": True,
            **(extra or {}),
        }
        url = self.url if self.url.endswith("/completions") else f"{self.url}/v1/completions"
        try:
            r = httpx.post(url, json=body, timeout=self.timeout_s)
        except httpx.TimeoutException:
            raise BackendError(f"{url} did not answer within {self.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {url}: {exc}") from None
        if extra and r.status_code in (400, 422):
            raise ConstraintRefused(f"HTTP {r.status_code}: {r.text[:200]}")
        if r.status_code != 200:
            raise BackendError(f"{url} answered HTTP {r.status_code}: {r.text[:200]}")
        try:
            reply = r.json()
            choice = reply["choices"][0]
            text = choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{url} sent a reply that is not an OpenAI completion") from None
        if not text.endswith(stop) and choice.get("finish_reason") == "stop" and not extra:
            end = choice.get("stop_reason")
            text += end if isinstance(end, str) and end in stop else T.FRAME_SEP
        used = (reply.get("usage") or {}).get("completion_tokens")
        return text, used if isinstance(used, int) else max(1, self.count_tokens(text))


class ConstraintRefused(BackendError):
    """The server answered a constrained request with a 400/422."""


def connect(url: str, model: str | None = None, timeout_s: float = 60.0) -> EndpointBackend:
    """An `EndpointBackend` for the server at `url`, set up from its
    `/v1/models`: the model (the only one served, or `model`, checked) and
    its context length (vLLM's and `opencwm serve`'s `max_model_len`), so
    the rollout's window policy knows the real limit. One-line
    `BackendError` when the server is down or does not serve `model`."""
    import httpx

    base = url.rstrip("/").removesuffix("/completions").removesuffix("/v1")
    wait = min(timeout_s, 10.0)
    try:
        r = httpx.get(f"{base}/v1/models", timeout=wait)
        r.raise_for_status()
        cards = [c for c in r.json()["data"] if isinstance(c, dict) and "id" in c]
    except httpx.TimeoutException:
        raise BackendError(f"{base}/v1/models did not answer within {wait:g}s") from None
    except httpx.HTTPError as exc:
        raise BackendError(f"cannot reach {base}/v1/models: {exc}") from None
    except (ValueError, KeyError, TypeError):
        raise BackendError(f"{base}/v1/models sent a reply that is not a model list") from None
    names = [str(c["id"]) for c in cards]
    if model is None and len(names) != 1:
        raise BackendError(f"{base} serves {len(names)} models; pick one: {', '.join(names)}")
    model = model if model is not None else names[0]
    if model not in names:
        raise BackendError(f"{base} does not serve {model!r}; known: {', '.join(names)}")
    card = cards[names.index(model)]
    # opencwm serve applies the local constraint itself, in one request a frame
    backend = EndpointBackend(base, model, timeout_s, structured=card.get("owned_by") != "opencwm")
    if isinstance(card.get("max_model_len"), int):
        backend.context_tokens = card["max_model_len"]
    return backend
