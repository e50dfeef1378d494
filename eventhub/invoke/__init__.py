"""Invocation: sync invoke, and async invoke on durable per-function queues."""
