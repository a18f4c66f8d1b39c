"""The `tokenledger` command line (`python -m pipelines.cli` runs it too)."""

from pipelines.cli.main import main

__all__ = ["main"]
