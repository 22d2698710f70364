"""Lockstep batches: decoding a group together gives each sequence the
logits it would get alone, through leaving, later turns and swaps."""

import pytest
import torch

from opencwm.rl.policy import Decoder, build_model, weights_of


@pytest.fixture
def decoder(micro):
    model, _ = build_model(micro().model)
    return Decoder(model)


def _alone(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]


def test_a_batch_decodes_each_sequence_as_if_alone(decoder):
    prompt = [5, 17, 230, 44, 9]
    a, b, c = decoder.start([prompt] * 3)
    assert a.batch is b.batch is c.batch and len(a.batch.seqs) == 3
    decoder.advance([(a, 11), (b, 12), (c, 13)])
    decoder.advance([(a, 21), (b, 22), (c, 23)])
    decoder.leave(b)  # b's turn ends; a and c go on without it
    assert len(a.batch.seqs) == 2 and b.batch.seqs == [b]
    decoder.advance([(a, 31), (c, 33)])
    decoder.extend(b, [7, 8, 9])  # b's next observation, on its own copy of its row
    for seq in (a, b, c):
        assert torch.allclose(seq.logits, _alone(decoder.model, seq.ids), atol=1e-4)
    assert b.ids == [*prompt, 12, 22, 7, 8, 9]


def test_a_batch_must_advance_together(decoder):
    a, _b = decoder.start([[5, 6, 7]] * 2)
    with pytest.raises(ValueError, match="together"):
        decoder.advance([(a, 3)])


def test_different_prompts_get_their_own_batches(decoder):
    a, b, c = decoder.start([[5, 6], [5, 7], [5, 6]])
    assert a.batch is c.batch and b.batch is not a.batch
    a, c = decoder.start([[5, 6], [5, 6]], lockstep=False)
    assert a.batch is not c.batch


def test_a_swap_reencodes_a_batch_with_the_new_weights(decoder):
    a, b = decoder.start([[5, 6, 7]] * 2)
    decoder.advance([(a, 40), (b, 41)])
    new = {k: v + 0.05 * torch.randn_like(v) for k, v in weights_of(decoder.model).items()}
    decoder.swap(new, 1, [a, b])
    assert a.batch is b.batch and (a.version, b.version) == (1, 1)
    for seq in (a, b):
        assert torch.allclose(seq.logits, _alone(decoder.model, seq.ids), atol=1e-4)
