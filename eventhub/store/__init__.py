"""The embedded SQLite store: async-invoke queues, embedded streams and queues, checkpoints."""
