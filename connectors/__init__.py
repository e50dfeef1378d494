"""Event-source connectors for eventhub and their pure helpers."""
