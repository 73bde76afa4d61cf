"""Runnable examples: python -m nerve.examples.<name>. Each states its expected result and exits
with an error when it falls short."""
