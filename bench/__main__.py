"""Run benchmarks: ``python -m bench`` runs all, ``python -m bench NAME ...`` some.

Each benchmark is a module of this package with a ``main() -> dict`` that runs contender
and baseline in the same run, prints a table and returns its results; the runner writes
them to ``bench/results/<name>.json`` with the date and ``nproc``.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import sys
from pathlib import Path

BENCHMARKS = [
    "kafka_mapping",
    "stream_embedded",
    "pickup_latency",
    "stream_memory",
]

RESULTS = Path(__file__).parent / "results"


def run(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    print(f"== {name}")
    result = module.main()
    result = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


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
