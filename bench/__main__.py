"""Run every benchmark, or the ones named: ``python -m bench [name ...]`` (``make bench``).

Each benchmark is a module ``bench/<name>.py`` whose ``main()`` runs contender and baseline
in the same run and prints a table. It either writes ``bench/results/<name>.json`` itself
or returns a dict that the runner writes there, with the date and ``nproc``.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import sys
from pathlib import Path

BENCHMARKS = [
    "dispatch",  # foundation: hub invoke vs a direct await
    "invoke_http",  # foundation: Invoke API vs bare aiohttp
    "async_invoke",  # foundation: Event invocations
    "kafka_mapping",  # streams: Kafka mapping vs a raw aiokafka consumer
    "stream_embedded",  # streams: PutRecords -> handler
    "pickup_latency",  # streams: put -> handler start
    "stream_memory",  # streams: RSS with a 1M-record backlog
    "http_routes",  # push: HTTP route vs bare aiohttp
    "files_latency",  # push: file written -> handler start, 1000-file burst
    "schedule_accuracy",  # push: lateness of schedule fires
    "rabbitmq_mapping",  # queues: RabbitMQ mapping vs a raw aio-pika consumer
    "queue_e2e",  # queues: SendMessageBatch -> handler -> delete, pickup latency
]

RESULTS = Path(__file__).parent / "results"


def run(name: str) -> None:
    print(f"== bench.{name}", flush=True)
    result = importlib.import_module(f"bench.{name}").main()
    if isinstance(result, dict):
        stamped = {
            "benchmark": name,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(),
            **result,
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(stamped, indent=2) + "\n")


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        run(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
