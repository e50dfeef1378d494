"""Event source mappings: polling, batching, filtering and checkpointing of sources."""
