"""``python -m api_client.sandbox --host 127.0.0.1 --port 8765 [--seed N] [--state FILE]
[--public-url URL]``."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from .json_cache import DEFAULT_CACHE_PROFILES
from .persistence import StateFileError
from .server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m api_client.sandbox", description="A local Copernica REST API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument(
        "--allow-url-token", action="store_true", help="accept ?access_token=<API token>"
    )
    parser.add_argument(
        "--legacy-auth-errors",
        action="store_true",
        help="answer a bad JWT with 400 instead of 401",
    )
    parser.add_argument(
        "--lenient-auth",
        action="store_true",
        help="also accept a JSON body or a GET at the auth service",
    )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument(
        "--profile-cache",
        type=int,
        default=DEFAULT_CACHE_PROFILES,
        help=(
            "how many serialized generated profiles and subprofiles to keep in memory "
            "(0: none; ~0.6 KB each)"
        ),
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the state in FILE across restarts: loaded at start, written on every change",
    )
    parser.add_argument(
        "--public-url",
        help="the sandbox's root URL as webhook receivers reach it (the keyIds point there); "
        "default http://HOST:PORT",
    )
    options = parser.parse_args(argv)
    try:
        server = SandboxServer(
            options.host,
            options.port,
            options.seed,
            allow_url_token=options.allow_url_token,
            legacy_auth_errors=options.legacy_auth_errors,
            lenient_auth=options.lenient_auth,
            verbose=options.verbose,
            profile_cache=options.profile_cache,
            state_file=options.state,
            public_url=options.public_url,
        )
    except StateFileError as exc:
        sys.exit(f"Copernica sandbox cannot start: {exc}")
    # A TERM (the demo's Ctrl-C handling, a process manager) stops it as Ctrl-C does, so the
    # state file is written on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    kept = f" (state in {options.state})" if options.state else ""
    print(f"Copernica sandbox listening on {server.url}{kept}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Once: a second TERM (``uv run`` forwards the one its process group got) must not cut
    # the final write of the state file short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
