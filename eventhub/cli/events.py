"""``eventhub events generate KIND``: sample AWS events, like ``sam local generate-event``."""

from __future__ import annotations

import argparse
import json

from eventhub.cli.common import CliError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from eventhub.events.samples import KINDS, OPTIONS  # noqa: PLC0415

    events = sub.add_parser(
        "events", help="work with sample events", description="Sample AWS events."
    )
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    generate = events_sub.add_parser(
        "generate",
        help="print a sample event of an AWS shape",
        description="Print a sample event. Kinds and their options:\n"
        + "\n".join(
            f"  {kind}: " + ", ".join(f"--{name.replace('_', '-')}" for name in OPTIONS[kind])
            for kind in KINDS
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("kind", choices=KINDS, help="event shape")
    seen: set[str] = set()
    for kind in KINDS:
        for name, text in OPTIONS[kind].items():
            if name not in seen:
                seen.add(name)
                generate.add_argument(
                    f"--{name.replace('_', '-')}",
                    dest=f"opt_{name}",
                    metavar=name.upper(),
                    help=text,
                )
    generate.add_argument("--region", default="us-east-1", help="region in ARNs")
    generate.add_argument("--account-id", default="000000000000", help="account id in ARNs")
    generate.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from eventhub.events.samples import OPTIONS, generate  # noqa: PLC0415

    options = {
        key[4:]: value
        for key, value in vars(args).items()
        if key.startswith("opt_") and value is not None
    }
    unknown = sorted(set(options) - set(OPTIONS[args.kind]))
    if unknown:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in unknown)
        raise CliError(f"{args.kind} events do not take {flags}")
    try:
        event = generate(args.kind, region=args.region, account_id=args.account_id, **options)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(event, indent=2))
    return 0
