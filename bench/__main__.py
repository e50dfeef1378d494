"""Run every registered benchmark, or the ones named: ``python -m bench [name ...]``.

Each benchmark is a module ``bench/<name>.py`` with a ``main()`` that runs contender and
baseline in the same run, prints a table and writes ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "dispatch",  # foundation: hub invoke vs a direct await
    "invoke_http",  # foundation: Invoke API vs bare aiohttp
    "async_invoke",  # foundation: Event invocations
    "http_routes",  # issue 5: HTTP route vs bare aiohttp
    "files_latency",  # issue 5: file written -> handler start, 1000-file burst
    "schedule_accuracy",  # issue 5: lateness of schedule fires
]


def main(argv: list[str]) -> None:
    for name in argv or BENCHMARKS:
        print(f"== bench.{name}")
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
