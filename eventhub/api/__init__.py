"""aiohttp applications: the main listener (Invoke API, AWS-compatible APIs, HTTP routes)
and the admin listener (health, readiness, metrics, admin API)."""
