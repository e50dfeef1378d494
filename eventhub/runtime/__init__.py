"""Execution environments for handler functions, the Lambda context, timeouts and logs."""
