"""A sandbox started with ``--state FILE`` answers after a restart as it did before it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from api_client import CopernicaClient
from api_client.sandbox.control import SandboxControl
from tests.sandbox_plugin import PROJECT_ROOT


@contextmanager
def sandbox_process(
    state: Path, *, seed: int = 3, stop: signal.Signals = signal.SIGTERM
) -> Iterator[SandboxControl]:
    """``python -m api_client.sandbox --state state``, stopped with ``stop`` afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api_client.sandbox",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--state",
            str(state),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    assert match is not None, f"the sandbox did not start: {line!r}"
    control = SandboxControl(match.group(1))
    try:
        yield control
    finally:
        control.close()
        process.send_signal(stop)
        # A TERM is handled (the state is written at exit): a clean exit.
        assert process.wait(timeout=10) == (0 if stop == signal.SIGTERM else -stop)
        process.stdout.close()


def client(control: SandboxControl, token: str) -> CopernicaClient:
    return CopernicaClient(
        token,
        api_url=control.api_url,
        auth_url=control.auth_url,
        rest_url=control.rest_url,
        timeout=10.0,
        backoff_base=0.01,
        backoff_max=0.05,
    )


def authenticates(control: SandboxControl, token: str) -> int:
    return httpx.post(control.auth_url, data={"access_token": token}, timeout=10).status_code


def answers(control: SandboxControl, token: str, database_id: str) -> dict[str, Any]:
    """What a linker would read: identity, databases, profiles and a profile's subprofiles."""
    with client(control, token) as copernica:
        ids = copernica.profile_ids(database_id)
        profiles = [copernica.get_profile(profile_id) for profile_id in ids[:3] + ids[-2:]]
        collection = copernica.collections(database_id)[0]
        return {
            "identity": copernica.identity(),
            "databases": copernica.databases(),
            "ids": ids,
            "profiles": profiles,
            "subprofile_ids": copernica.subprofile_ids(collection["ID"]),
            "subprofiles": copernica.profile_subprofiles(ids[0], collection["ID"]),
        }


def test_restarted_sandbox_keeps_accounts_changes_tokens_and_applications(
    tmp_path: Path,
) -> None:
    state = tmp_path / "var" / "sandbox.json"
    with sandbox_process(state) as control:
        account = control.create_account("Acme", 40, collections=1, subprofiles=60)
        database = account.database_id
        spare = control.issue_token(account.account_id)
        application = control.register_application("Linker", "http://127.0.0.1:8000/cb")
        with client(control, account.api_token) as copernica:
            first = copernica.profile_ids(database)[0]
            copernica.update_profile(first, {"firstname": "Changed"})
            created = copernica.create_profile(database, {"email": "new@example.com"})
            copernica.delete_profile(copernica.profile_ids(database)[5])
        control.revoke(account.api_token)
        control.set_options(id_list_cap=1000)
        control.fault(path="/v4/nowhere", status=503, count=2)
        before = answers(control, spare, database)
        accounts = control.accounts()
    assert state.exists()

    with sandbox_process(state) as control:
        assert control.accounts() == accounts
        assert answers(control, spare, database) == before
        assert before["profiles"][0]["fields"]["firstname"] == "Changed"
        assert created in before["ids"]
        assert authenticates(control, account.api_token) == 401
        assert authenticates(control, spare) == 200
        assert control.applications() == [
            {
                "name": "Linker",
                "client_id": application.client_id,
                "redirect_uri": "http://127.0.0.1:8000/cb",
            }
        ]
        assert control.options()["id_list_cap"] == 1000
        assert [(fault["path"], fault["count"]) for fault in control.faults()] == [
            ("/v4/nowhere", 2)
        ]
        # New IDs continue after the ones handed out before the restart.
        with client(control, spare) as copernica:
            assert int(copernica.create_profile(database, {"email": "b@example.com"})) > int(
                created
            )


def test_every_change_is_written_before_its_answer(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    with sandbox_process(state, stop=signal.SIGKILL) as control:
        account = control.create_account("Acme", 10)
        with client(control, account.api_token) as copernica:
            profile_id = copernica.profile_ids(account.database_id)[0]
            copernica.update_profile(profile_id, {"city": "Utrecht"})
    # Killed without a chance to write at exit.
    with sandbox_process(state) as control, client(control, account.api_token) as copernica:
        assert copernica.get_profile(profile_id)["fields"]["city"] == "Utrecht"


def test_a_reset_empties_the_state_file_too(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    with sandbox_process(state) as control:
        control.create_account("Acme", 10)
        control.reset()
    with sandbox_process(state) as control:
        assert control.accounts() == []


def test_a_state_file_of_another_seed_is_refused_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    with sandbox_process(state, seed=3) as control:
        control.create_account("Acme", 10)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "api_client.sandbox",
            "--port",
            "0",
            "--seed",
            "4",
            "--state",
            str(state),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--seed 3" in result.stderr
