"""eventhub: a self-hosted event-source hub running AWS Lambda handlers with Lambda's semantics."""

__version__ = "0.1.0"
