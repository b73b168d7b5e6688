"""``fraudops keys new --name N --scopes score``: a new API key and its hashed config entry;
``fraudops keys analyst --username U [--role admin]`` (password on stdin): a console login entry."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    new = sub.add_parser("new", help="print a new key (once) and the entry to configure")
    new.add_argument("--name", required=True, help="the client, e.g. the payment system")
    new.add_argument("--scopes", default="score", help="comma-separated, e.g. score,feedback")
    h = sub.add_parser("hash", help="the configured form (sha256) of an existing key (stdin)")
    h.set_defaults(stdin=True)
    a = sub.add_parser(
        "analyst",
        help="a console login: the password from stdin, the entry out (PBKDF2-SHA256, "
        "600,000 iterations)",
    )
    a.add_argument("--username", required=True, help="letters (any alphabet), digits, ._@-")
    a.add_argument(
        "--role",
        choices=("analyst", "admin"),
        default="analyst",
        help="analyst (default): lists, rule proposals; admin: also activates rule sets",
    )


def run(args: argparse.Namespace) -> int:
    from services.common.auth import hash_key, new_key

    if args.action == "analyst":
        from services.alerts.analysts import hash_password
        from services.common.actors import check_name

        try:
            username = check_name(args.username, "the username")
        except ValueError as exc:
            print(f"fraudops keys analyst: {exc}", file=sys.stderr)
            return 2
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 12:
            print(
                "fraudops keys analyst: the password needs at least 12 characters", file=sys.stderr
            )
            return 2
        entry = {"username": username, "password_hash": hash_password(password), "role": args.role}
        print(json.dumps(entry))
        return 0
    if args.action == "hash":
        print(hash_key(sys.stdin.readline().strip()))
        return 0
    key, entry = new_key(args.name, [s for s in args.scopes.split(",") if s])
    print(f"key (give it to {args.name}; it is not stored anywhere): {key}", file=sys.stderr)
    print(json.dumps(entry))
    return 0
