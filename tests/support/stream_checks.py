"""Handlers and checks for end-to-end stream tests (the daemon as a process)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

RECORDING_HANDLER = """\
import base64
import json
import os
import time

OUT = os.environ["OUT"]


def handler(event, context):
    lines = []
    if "Records" in event:
        for r in event["Records"]:
            lines.append({"shard": r["eventID"].split(":")[0],
                          "seq": int(r["kinesis"]["sequenceNumber"][-48:]),
                          "data": base64.b64decode(r["kinesis"]["data"]).decode()})
    else:
        for key, records in event["records"].items():
            for r in records:
                lines.append({"shard": key, "seq": r["offset"],
                              "data": base64.b64decode(r["value"]).decode()})
    pid = os.getpid()
    with open(OUT, "a") as out:
        out.write("".join(json.dumps({"pid": pid, **line}) + "\\n" for line in lines))
    time.sleep(float(os.environ.get("PAUSE", "0")))
    return None
"""


def check_runs(lines: list[dict[str, Any]], expected: dict[str, int]) -> dict[str, set[int]]:
    """Every shard's records 0..n-1 seen; within each daemon run (pid) a shard's records
    come strictly in order and contiguous; a later run resumes at or before where the
    previous one stopped (a replayed tail), never after it (nothing skipped).

    Returns the pids that handled each shard."""
    runs: dict[str, list[tuple[int, list[int]]]] = defaultdict(list)
    for line in lines:
        shard_runs = runs[line["shard"]]
        if not shard_runs or shard_runs[-1][0] != line["pid"]:
            shard_runs.append((line["pid"], []))
        shard_runs[-1][1].append(line["seq"])
    assert set(runs) == set(expected), (sorted(runs), sorted(expected))
    pids: dict[str, set[int]] = {}
    for shard, shard_runs in runs.items():
        done = 0  # records 0..done-1 handled so far
        for _, seqs in shard_runs:
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (shard, seqs[:20])
            assert seqs[0] <= done, f"{shard}: skipped from {done} to {seqs[0]}"
            done = max(done, seqs[-1] + 1)
        assert done == expected[shard], (shard, done, expected[shard])
        pids[shard] = {pid for pid, _ in shard_runs}
    return pids
