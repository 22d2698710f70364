"""Trace corpora: sources of programs to trace, and the pipeline that traces them."""
