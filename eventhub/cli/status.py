"""``eventhub status``: functions and sources of the running daemon, as tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from eventhub.cli.common import CliError, base_url, load
from eventhub.cli.http import request


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="show functions and sources of the running daemon",
        description="Print /functions and /sources of the daemon's admin listener as tables.",
    )
    parser.add_argument(
        "-c", "--config", help="config file (default: $EVENTHUB_CONFIG or config/eventhub.yaml)"
    )
    parser.set_defaults(command=run)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _get(url: str) -> Any:
    reply = request("GET", url, timeout=10)
    if reply.status != 200:
        raise CliError(f"GET {url} answered {reply.status}")
    return reply.json()


def _lag(detail: dict[str, Any]) -> str:
    for key, unit in (("iterator_age_ms", "ms"), ("lag", ""), ("visible", " msgs")):
        if key in detail and detail[key] is not None:
            return f"{detail[key]}{unit}"
    return ""


def run(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    admin = base_url(loaded.config.hub.admin_listen)
    functions = _get(f"{admin}/functions")["functions"]
    sources = _get(f"{admin}/sources")["sources"]
    print(
        table(
            ["FUNCTION", "HANDLER", "RUNTIME", "TIMEOUT", "RESERVED", "RUNNING"],
            [
                [
                    f["name"],
                    f["handler"],
                    f["runtime"],
                    f"{f['timeout']:g}",
                    f["reserved_concurrency"],
                    f["running"],
                ]
                for f in functions
            ],
        )
    )
    print()
    print(
        table(
            ["SOURCE", "TYPE", "FUNCTION", "STATE", "HEALTH", "LAG", "DLQ", "LAST RESULT"],
            [
                [
                    s["name"],
                    s["type"],
                    s["function"],
                    s["state"],
                    "connected" if s["connected"] else "DISCONNECTED",
                    _lag(s["detail"]),
                    s["detail"].get("dead_letter_depth", ""),
                    s["last_result"] or s["last_error"] or "",
                ]
                for s in sources
            ],
        )
    )
    return 0
