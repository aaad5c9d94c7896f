"""`vigia privacy notice`: the signage notice (vigia.appliance.privacy.notice) from a config file."""
from __future__ import annotations

import argparse
from pathlib import Path

from vigia.app.cli.common import CliError


def add_commands(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    privacy = commands.add_parser("privacy", help="privacy: the signage notice").add_subparsers(metavar="ACTION")
    notice = privacy.add_parser("notice", help="the signage notice (printable HTML): controller, purpose, each camera's "
                                               "retention and the contact, from the config file's privacy section")
    notice.add_argument("-c", "--config", required=True, type=Path)
    notice.add_argument("--lang", default="pt-BR", choices=["pt-BR", "en"])
    notice.add_argument("--out", type=Path, default=None, help="the HTML file to write (default: standard output)")
    notice.set_defaults(handler=_notice)
    return privacy


def _notice(args) -> int:
    from vigia.appliance.config import load_config
    from vigia.appliance.privacy.notice import NoticeError, notice_html

    try:
        html = notice_html(load_config(args.config), args.lang)
    except NoticeError as exc:
        raise CliError(f"{args.config}: {exc}") from None
    if args.out is None:
        print(html, end="")
    else:
        args.out.write_text(html, encoding="utf-8")
        print(f"notice ({args.lang}) written to {args.out}")
    return 0
