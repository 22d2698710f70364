"""A byte-level BPE tokenizer for traces, with CWM's special tokens atomic.

Digits are split one per token before BPE (as Llama-family tokenizers do):
numbers cut into arbitrary multi-digit pieces make arithmetic much harder
to learn. Saved as a standard `tokenizer.json` + config, so
`AutoTokenizer.from_pretrained(dir)` loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from opencwm.trace import tokens as T

PAD = "<|pad|>"
SPECIAL = (*T.SPECIAL_TOKENS, PAD)


def _plain(texts: Iterable[str]) -> Iterator[str]:
    """Texts with special tokens cut out: they are single ids, not BPE material."""
    for text in texts:
        for tok in T.SPECIAL_TOKENS:
            text = text.replace(tok, "\n")
        yield text


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096):
    """Train on trace texts; returns a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(_plain(texts), trainer)
    return wrap(tok)


def wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=T.BEGIN_OF_TEXT,
        eos_token=T.END_OF_TEXT,
        pad_token=PAD,
        additional_special_tokens=[
            t for t in T.SPECIAL_TOKENS if t not in (T.BEGIN_OF_TEXT, T.END_OF_TEXT)
        ],
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def special_ids(tokenizer) -> dict[str, int]:
    """Id of every CWM special token; each must be exactly one token."""
    ids = {}
    for tok in SPECIAL:
        enc = tokenizer.convert_tokens_to_ids(tok)
        assert isinstance(enc, int) and enc != tokenizer.unk_token_id, f"{tok} is not one token"
        ids[tok] = enc
    return ids
