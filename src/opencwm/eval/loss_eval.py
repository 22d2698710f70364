"""`opencwm eval loss`: a model's teacher-forced loss on every trace of a split.

The cheapest held-out figure, and the smoothest in training compute:
`eval trace` decodes frame by frame (a forward per written token) and its
exact-match scores move in jumps on a small model; this reads each frame
token of the split once. It is what compares two recipes at equal compute
(issue 15: does code pre-training help held-out real code?), and the
same windows and masks as training, so it is the training's validation
figure on any split of any corpus.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

from opencwm.eval import EvalError, require_corpus


def heldout_loss(
    model_dir: Path,
    data: Path,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 8,
) -> dict:
    """Loss, token and whole-frame accuracy on `split`'s finished traces,
    in windows of the model's training block (1024 when it has no
    `train_config.json`)."""
    import numpy as np
    import torch
    from transformers import CwmForCausalLM

    from opencwm.data.pipeline import iter_rows
    from opencwm.model.tokenizer import PAD, load_tokenizer
    from opencwm.model.train import TrainConfig, evaluate
    from opencwm.model.windows import Windower, corpus_format, pack

    require_corpus(data)
    fmt = corpus_format(data)  # a narrated corpus is scored on its sentences
    rows = [{**row, "format": fmt} for row in islice(iter_rows(data, split), limit)]
    if not rows:
        raise EvalError(f"{data} has no {split} traces")
    trained = model_dir / "train_config.json"
    block = json.loads(trained.read_text())["block"] if trained.exists() else 1024
    tokenizer = load_tokenizer(model_dir)
    with Windower(tokenizer, block + 1) as windows:
        seqs = windows(rows)
    ids, mask = pack(seqs, block, tokenizer.convert_tokens_to_ids(PAD))
    model = CwmForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    c = TrainConfig(data=str(data), out=str(model_dir), batch_size=batch_size)
    frame_sep = tokenizer.convert_tokens_to_ids("<|frame_sep|>")
    scores = evaluate(model, (ids, mask), c, frame_sep, torch.device("cpu"), rows=None)
    return {
        "model": str(model_dir),
        "data": str(data),
        "split": split,
        "traces": len(rows),
        "rows": len(ids),
        "target_tokens": int(np.asarray(mask)[:, 1:].sum()),
        "loss": scores["val_loss"],
        "token_acc": scores["val_token_acc"],
        "frame_acc": scores["val_frame_acc"],
    }
