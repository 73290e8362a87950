"""`python -m tools.ivr simulate` (walk the phone menu in a terminal) and `python -m tools.ivr audit FILE`."""

from __future__ import annotations

import argparse
import sys
import urllib.error

from tools.ivr.simulate import default_token, default_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ivr", description="Aiguillage phone menu tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("simulate", "walk the phone menu in the terminal, as a caller"),
        ("audit", "play scripted mystery calls; pass/fail table; exit 1 on a failure"),
    ):
        p = sub.add_parser(name, help=help_text)
        if name == "audit":
            p.add_argument("scenarios", help="a scenario file, e.g. tools/ivr/scenarios/cantal.yml")
        p.add_argument("--url", default=None, help="the server (default http://127.0.0.1:$PORT, PORT=5005)")
        p.add_argument(
            "--token", default=None, help="auth token to sign with (default: TWILIO_AUTH_TOKEN, else the local development token)"
        )
        p.add_argument(
            "--public-url", default=None, help="the server's PUBLIC_BASE_URL, if not --url (signatures are computed on it)"
        )
        if name == "simulate":
            p.add_argument("--now", default=None, help="fix the clock, e.g. 2026-07-14T10:00 (server in local dev or test clock)")
    args = parser.parse_args(argv)
    token, url = args.token or default_token(), args.url or default_url()
    try:
        if args.command == "simulate":
            from tools.ivr.simulate import interactive

            return interactive(url, token, args.public_url, args.now)
        from tools.ivr.audit import run

        return run(args.scenarios, url, token, args.public_url)
    except urllib.error.URLError as exc:
        if isinstance(exc, urllib.error.HTTPError) or not isinstance(exc.reason, OSError):
            raise
        print(f"No Aiguillage server answers on {url}: start it first (`make run`), or give its address with --url.")
        return 2


if __name__ == "__main__":
    sys.exit(main())
