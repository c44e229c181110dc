"""``rfqcore portal hash-password``: the argon2id hash of a portal or console user's
password, for the ``password_hash`` of its ``[[portal_user]]`` or ``[[console_user]]`` table
(docs/web.md). The password is read from the terminal (asked twice) or, when standard input
is not a terminal, from its first line: never from the command line, where it would land in
the shell's history."""

from __future__ import annotations

import argparse
import getpass
import sys

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("portal", help="the web RFQ portal's and operator console's accounts (docs/web.md)")
    psub = p.add_subparsers(dest="portal_command", required=True, metavar="ACTION")
    h = psub.add_parser("hash-password",
                        help="print the argon2id hash of a password for a [[portal_user]] or [[console_user]] table",
                        description=__doc__)
    h.set_defaults(func=_cmd_hash_password)


def _cmd_hash_password(args: argparse.Namespace) -> int:
    from rfqcore.web.portal import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("rfqcore portal hash-password: the two passwords differ; run it again", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("rfqcore portal hash-password: empty password; give one on standard input or at the prompt",
              file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
