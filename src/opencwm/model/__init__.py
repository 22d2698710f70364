"""The imagined world's learner: tokenizer, model presets, training."""
