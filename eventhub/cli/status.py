"""``eventhub status``: functions and sources of the running daemon, as tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from eventhub.cli.common import CONFIG_HELP, CliError, base_url, load_client
from eventhub.cli.http import request


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="show functions and sources of the running daemon",
        description="Print /functions and /sources of the daemon's admin listener as tables.",
    )
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
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


def _age(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def lag(detail: dict[str, Any]) -> str:
    """How far behind a source is: records and iterator age of a stream mapping, waiting
    (and in-flight) messages of a queue mapping; empty for push sources."""
    if "iterator_age_ms" in detail:  # stream and kafka mappings
        behind = detail.get("lag")
        records = "" if behind is None else f"{behind} rec, "
        return f"{records}age {_age(detail['iterator_age_ms'] or 0)}"
    if "visible" in detail:  # queue and rabbitmq mappings (figures refreshed every 5 s)
        busy = detail.get("in_flight", detail.get("unsettled"))
        return f"{detail['visible']} msgs" + (f" (+{busy} in flight)" if busy else "")
    return ""


def result(source: dict[str, Any], width: int = 70) -> str:
    """The last processing result, with the last error when it explains a problem."""
    text = source["last_result"] or ""
    error = source["last_error"]
    if error and (not source["connected"] or not text or text.startswith("PROBLEM")):
        text = f"{text}: {error}" if text else error
    return text if len(text) <= width else text[: width - 3] + "..."


def _health(source: dict[str, Any]) -> str:
    if source["state"] == "disabled":
        return "-"
    return "connected" if source["connected"] else "DISCONNECTED"


def run(args: argparse.Namespace) -> int:
    admin = base_url(load_client(args.config).admin_listen)
    functions = _get(f"{admin}/functions")["functions"]
    sources = _get(f"{admin}/sources")["sources"]
    print(
        table(
            [
                "FUNCTION",
                "HANDLER",
                "RUNTIME",
                "TIMEOUT",
                "RESERVED",
                "RUNNING",
                "INVOKED",
                "ERRORS",
            ],
            [
                [
                    f["name"],
                    f["handler"],
                    f["runtime"],
                    f"{f['timeout']:g}",
                    f["reserved_concurrency"],
                    f["running"],
                    f.get("invocations"),
                    f.get("errors"),
                ]
                for f in functions
            ],
        )
    )
    print()
    print(
        table(
            [
                "SOURCE",
                "TYPE",
                "FUNCTION",
                "STATE",
                "HEALTH",
                "LAG",
                "DLQ",
                "ERRORS",
                "LAST RESULT",
            ],
            [
                [
                    s["name"],
                    s["type"],
                    s["function"],
                    s["state"],
                    _health(s),
                    lag(s["detail"]),
                    s["detail"].get("dead_letter_depth"),
                    s["detail"].get("errors"),
                    result(s),
                ]
                for s in sources
            ],
        )
    )
    return 0
