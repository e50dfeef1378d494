"""The ``eventhub`` command line: argument parsing and printing; the work lives elsewhere."""

from eventhub.cli.main import main

__all__ = ["main"]
