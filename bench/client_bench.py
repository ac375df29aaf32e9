"""Benchmark the sandbox and the Copernica client's read modes.

    uv run python bench/client_bench.py [--profiles 100000]

Starts a sandbox subprocess, creates an account, measures the sandbox's page-serve rate with a
raw httpx client, then runs each client read mode in a fresh child process so that each peak
RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.report import Figure, bench_table_print, figure  # noqa: E402 - after the path set-up

MODES = {
    "offset-100": "offset paging, limit 100",
    "offset-1000": "offset paging, limit 1000",
    "keyset-1000": "keyset paging (id>N), limit 1000",
    "stream": "streaming rest host, one chunked answer",
}


def run_mode(mode: str, url: str, token: str, database_id: str) -> dict[str, float]:
    """Run one read mode in this (child) process; return count, seconds and peak RSS."""
    from api_client import CopernicaClient

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with CopernicaClient(
        token, api_url=f"{url}/v4", auth_url=f"{url}/authenticate", rest_url=f"{url}/rest/v4"
    ) as client:
        client.identity()  # exchange the JWT outside the timing
        started = time.perf_counter()
        count = 0
        if mode.startswith("offset"):
            size = int(mode.split("-")[1])
            path = f"database/{database_id}/profiles"
            for _ in client.paginate(path, page_size=size):
                count += 1
        elif mode == "keyset-1000":
            for page in client.paginate_keyset(database_id):
                count += page.count
        else:
            for _ in client.stream_profiles(database_id, limit=1_000_000):
                count += 1
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"count": count, "seconds": seconds, "peak_kb": peak, "baseline_kb": baseline}


def serve_rate(url: str, token: str, database_id: str, pages: int = 60) -> tuple[float, float]:
    """Pages of 1000 profiles per second from the sandbox, over one keep-alive connection."""
    jwt = httpx.post(f"{url}/authenticate", data={"access_token": token}).text
    with httpx.Client(headers={"Authorization": f"Bearer {jwt}"}, timeout=30) as http:
        path = f"{url}/v4/database/{database_id}/profiles"
        http.get(path, params={"limit": 1000})
        started = time.perf_counter()
        for number in range(pages):
            response = http.get(
                path, params={"start": (number * 1597) % 99_000, "limit": 1000, "total": "false"}
            )
            assert response.json()["count"] == 1000
        seconds = time.perf_counter() - started
    return pages / seconds, seconds / pages * 1000


def render_cost(profiles: int, pages: int = 60) -> tuple[float, float]:
    """Milliseconds the sandbox spends answering one page of 1000, measured in-process: on a
    fresh sandbox (every profile generated), then the same pages again (from its cache)."""
    from api_client.sandbox.http import Request
    from api_client.sandbox.state import SandboxState
    from api_client.sandbox.surface import CopernicaSurface

    state = SandboxState(1)
    account = state.create_account("Bench", profiles)
    jwt = state.issue_jwt(state.tokens[account.api_tokens[0]])
    surface = CopernicaSurface(state)
    costs = []
    for _ in range(2):
        started = time.perf_counter()
        for number in range(pages):
            start = (number * 1597) % (profiles - 1000)
            request = Request(
                "GET",
                f"/v4/database/{account.database.id}/profiles",
                [("start", str(start)), ("limit", "1000"), ("total", "false")],
                {"authorization": f"Bearer {jwt}"},
                b"",
                "http://bench",
            )
            assert surface.handle(request).status == 200
        costs.append((time.perf_counter() - started) / pages * 1000)
    return costs[0], costs[1]


def _child(*arguments: str) -> dict[str, float]:
    """Run this script with ``arguments`` in a fresh process; its last line of JSON."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--child", choices=sorted(MODES))
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--database")
    parser.add_argument("--render", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.render:
        cold, warm = render_cost(options.profiles)
        print(json.dumps({"cold": cold, "warm": warm}))
        return
    if options.child:
        result = run_mode(options.child, options.url, options.token, options.database)
        print(json.dumps(result))
        return

    sandbox = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--port", "0", "--seed", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        match = re.search(r"(http://\S+)", sandbox.stdout.readline())
        if match is None:
            raise SystemExit("The sandbox did not start.")
        url = match.group(1)
        began = started = time.perf_counter()
        figures: list[Figure] = []
        account = httpx.post(
            f"{url}/__sandbox__/accounts",
            json={"name": "Bench", "profiles": options.profiles},
            timeout=60,
        ).json()
        created = time.perf_counter() - started
        print(f"sandbox at {url}; account of {options.profiles:,} profiles in {created:.2f} s\n")

        rate, per_page = serve_rate(url, account["api_token"], account["database_id"])
        print(f"sandbox page serve: {rate:.0f} pages of 1000/s, {per_page:.1f} ms per page")
        cached, per_page = serve_rate(url, account["api_token"], account["database_id"])
        print(f"  the same, cached: {cached:.0f} pages of 1000/s, {per_page:.1f} ms per page")
        figures.append(figure("sandbox page serve, pages of 1000", rate, "pages/s"))
        figures.append(figure("sandbox page serve, cached", cached, "pages/s", baseline=rate))
        print("(raw httpx, one connection, client-side JSON decode included)")
        # In a child process, so that the RSS figures below are the client's own.
        cost = _child("--render", "--profiles", str(options.profiles))
        print(
            f"sandbox render cost in-process: {cost['cold']:.2f} ms per page of 1000 generated, "
            f"{cost['warm']:.2f} ms cached\n"
        )
        figures.append(figure("sandbox render, page of 1000 generated", cost["cold"], "ms"))
        figures.append(
            figure("sandbox render, page of 1000 cached", cost["warm"], "ms", baseline=cost["cold"])
        )

        print(
            f"{'mode':<44}{'profiles':>10}{'seconds':>9}{'profiles/s':>12}"
            f"{'peak RSS':>11}{'at start':>11}"
        )
        first_rate = 0.0
        for mode, label in MODES.items():
            result = _child(
                "--child",
                mode,
                "--url",
                url,
                "--token",
                account["api_token"],
                "--database",
                account["database_id"],
            )
            per_second = result["count"] / result["seconds"]
            peak_mb = result["peak_kb"] / 1024
            start_mb = result["baseline_kb"] / 1024
            print(
                f"{label:<44}{int(result['count']):>10,}{result['seconds']:>9.2f}"
                f"{per_second:>12,.0f}{peak_mb:>8.1f} MB{start_mb:>8.1f} MB"
            )
            # Each mode against the first (offset paging at limit 100), its RSS against the
            # process's at the start.
            figures.append(
                figure(
                    f"client read, {label}", per_second, "profiles/s", baseline=first_rate or None
                )
            )
            first_rate = first_rate or per_second
            figures.append(
                figure(f"client read peak RSS, {label}", peak_mb, "MB", baseline=start_mb)
            )
        bench_table_print("client_bench", [], time.perf_counter() - began, figures=figures)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
