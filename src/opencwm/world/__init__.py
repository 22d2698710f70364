"""The imagined world: a language model asked for the next frame, again and again."""
