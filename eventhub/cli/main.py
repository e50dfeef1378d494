"""Argument parsing for ``eventhub``; each command lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from eventhub import __version__
from eventhub.cli import events, invoke, queues, status, streams
from eventhub.cli.common import CONFIG_HELP, CliError, load


def _run(args: argparse.Namespace) -> int:
    from eventhub.daemon import serve  # noqa: PLC0415 - keeps `eventhub --help` fast
    from eventhub.hub import ListenError  # noqa: PLC0415

    try:
        return serve(load(args.config))
    except ListenError as exc:
        raise CliError(str(exc)) from None


def _validate(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    config = loaded.config
    print(
        f"{loaded.path}: valid ({len(config.functions)} functions, {len(config.sources)} sources, "
        f"{len(config.streams)} streams, {len(config.queues)} queues)"
    )
    from eventhub.functions import code_warnings  # noqa: PLC0415 - only validate needs it

    for warning in code_warnings(loaded):  # the code may be deployed later: not an error
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _with_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        help=CONFIG_HELP,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventhub",
        description="Run AWS Lambda handlers on events of streams, queues, HTTP, files, schedules.",
    )
    parser.add_argument("--version", action="version", version=f"eventhub {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run", help="run the daemon", description="Run the daemon in the foreground."
    )
    _with_config(run)
    run.set_defaults(command=_run)
    validate = sub.add_parser(
        "validate",
        help="check a config file",
        description="Validate a config file; print every problem.",
    )
    _with_config(validate)
    validate.set_defaults(command=_validate)
    invoke.add_parser(sub)
    events.add_parser(sub)
    status.add_parser(sub)
    streams.add_parser(sub)
    queues.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.command(args)
    except CliError as exc:
        print(f"eventhub: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `eventhub events generate kafka | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 141
    return code
