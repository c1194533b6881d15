"""``otel-listener``: command-line tools of the listener.

``otel-listener lineage status``  shows the spool of unsent OpenLineage events;
``otel-listener lineage replay``  sends them, oldest first, through the configured transport
(the same ``OPENLINEAGE_*`` / ``[otel_listener]`` configuration as the listener), deleting each
only after a confirmed send, and stops at the first failure so order is kept.
``otel-listener alerts status``  shows each alert destination's outbox and dead letters;
``otel-listener alerts redeliver``  moves dead letters back into the outbox;
``otel-listener alerts check [FILE]``  validates a rules file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from otel_listener import __version__


def _spool(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from otel_listener.config import load_settings
    from otel_listener.lineage.spool import Spool
    from otel_listener.runtime import lineage_spool_dir

    settings = load_settings()
    folder = Path(args.spool_dir) if args.spool_dir else lineage_spool_dir(settings)
    return settings, Spool(folder, settings.lineage_spool_max_mb * 1024 * 1024)


def _status(args: argparse.Namespace) -> int:
    _settings, spool = _spool(args)
    entries = spool.entries()
    print(f"spool: {spool.folder}")
    print(f"events waiting: {len(entries)} ({spool.size_bytes()} bytes)")
    if entries:
        print(f"oldest: {entries[0].name}  newest: {entries[-1].name}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from otel_listener.lineage.transport import make_sender

    settings, spool = _spool(args)
    total = len(spool.entries())
    print(f"replaying {total} event(s) from {spool.folder}", flush=True)
    if total == 0:
        return 0
    sender = make_sender(args.transport or settings.lineage_transport, __version__, None)
    print(f"transport: {sender.kind}", flush=True)

    def progress(sent: int, path: Path) -> None:
        if not args.quiet:
            print(f"  [{sent}/{total}] sent {path.name}", flush=True)

    deadline = time.monotonic() + args.timeout
    result = spool.drain(sender.send, deadline=deadline, wait_for_lock=True, progress=progress)
    if result.locked_out:
        print("another process is sending from this spool; try again later", file=sys.stderr)
        return 3
    print(f"sent {result.sent}, left {result.remaining}")
    if result.failed:
        print(f"stopped at the first failure: {result.error}", file=sys.stderr)
        return 1
    return 0 if result.remaining == 0 else 2


def _alerts_folder(args: argparse.Namespace) -> Path:
    from otel_listener.config import load_settings
    from otel_listener.runtime import alerts_dir

    return Path(args.alerts_dir) if args.alerts_dir else alerts_dir(load_settings())


def _alerts_status(args: argparse.Namespace) -> int:
    from otel_listener.alerting.sink import destinations_on_disk
    from otel_listener.lineage.spool import Spool

    folder = _alerts_folder(args)
    print(f"alerts: {folder}")
    for name in destinations_on_disk(folder):
        waiting = len(Spool(folder / "outbox" / name, 1).entries())
        dead = len(Spool(folder / "dead-letter" / name, 1).entries())
        print(f"  {name}: {waiting} waiting, {dead} dead letter(s)")
    return 0


def _alerts_redeliver(args: argparse.Namespace) -> int:
    from otel_listener.alerting.sink import destinations_on_disk, redeliver

    folder = _alerts_folder(args)
    names = args.destination or destinations_on_disk(folder)
    moved = redeliver(folder, names)
    print(f"moved {moved} dead letter(s) back to the outbox; the next delivery round sends them")
    return 0


def _alerts_check(args: argparse.Namespace) -> int:
    from otel_listener.alerting import rules
    from otel_listener.config import load_settings

    path = args.file or load_settings().alert_rules_file
    if not path:
        print("no rules file: pass one or set alert_rules_file", file=sys.stderr)
        return 2
    try:
        ruleset = rules.load_file(path)
    except rules.RulesError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    kinds = ", ".join(f"{n} ({d.type})" for n, d in ruleset.destinations.items())
    print(f"ok: {len(ruleset.rules)} rule(s); destinations: {kinds}")
    for rule in ruleset.rules:
        print(f"  {rule.name}: {rule.condition.type} -> {', '.join(rule.destinations)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-listener", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    lineage = commands.add_parser("lineage", help="OpenLineage events of the listener")
    sub = lineage.add_subparsers(dest="action", required=True)
    for name, func, text in (
        ("status", _status, "show the spool of unsent events"),
        ("replay", _replay, "send spooled events in order; delete each after a confirmed send"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--spool-dir", help="spool folder (default: from the listener configuration)")
        cmd.set_defaults(func=func)
        if name == "replay":
            cmd.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
            cmd.add_argument("--transport", choices=("openlineage", "otlp"), help="override lineage_transport")
            cmd.add_argument("--quiet", action="store_true", help="no line per event")
    alerts = commands.add_parser("alerts", help="alert outboxes and dead letters")
    sub = alerts.add_subparsers(dest="action", required=True)
    for name, func, text in (
        ("status", _alerts_status, "show waiting messages and dead letters per destination"),
        ("redeliver", _alerts_redeliver, "move dead letters back into the outbox"),
        ("check", _alerts_check, "validate a rules file"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.set_defaults(func=func)
        if name == "check":
            cmd.add_argument("file", nargs="?", help="rules file (default: alert_rules_file)")
            continue
        cmd.add_argument("--alerts-dir", help="alerts folder (default: from the listener configuration)")
        if name == "redeliver":
            cmd.add_argument("--destination", action="append", help="only this destination (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
