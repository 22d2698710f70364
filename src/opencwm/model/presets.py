"""Named sizes of `CwmForCausalLM`: the architecture of facebook/cwm, scaled down.

Every fourth layer attends globally and the others through a sliding
window, as in CWM (here as wide as the context, so a cache can be cut back
anywhere); RoPE without long-context scaling, since these models see
short windows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    context: int = 2048
    window: int = 2048  # sliding layers as in CWM; at these lengths they see everything


PRESETS = {
    # for tests and examples: fits one trace by heart in seconds on a CPU
    "micro": Preset(
        hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, context=1024, window=1024
    ),
    "tiny": Preset(hidden=256, layers=4, heads=4, kv_heads=2, intermediate=768),
    "small": Preset(hidden=512, layers=8, heads=8, kv_heads=4, intermediate=1536),
    "base": Preset(hidden=768, layers=12, heads=12, kv_heads=4, intermediate=3072),
}


def cwm_config(preset: str, tokenizer, **fields: object):
    """A `CwmConfig` for `preset` with the tokenizer's vocabulary and ids;
    `fields` override the preset's (tests that need another shape)."""
    from transformers import CwmConfig

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    base = dict(
        vocab_size=len(tokenizer),
        hidden_size=p.hidden,
        intermediate_size=p.intermediate,
        num_hidden_layers=p.layers,
        num_attention_heads=p.heads,
        num_key_value_heads=p.kv_heads,
        head_dim=p.hidden // p.heads,
        max_position_embeddings=p.context,
        sliding_window=p.window,
        rope_parameters={"rope_type": "default", "rope_theta": 10_000.0},
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return CwmConfig(**{**base, **fields})
