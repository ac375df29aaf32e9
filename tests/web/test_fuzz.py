"""Every GET and POST parameter of every URL, fuzzed: 0 responses >= 500 (reliability.md case 42).

Each named URL (``routes.py``, aimed at agency B's objects) gets, as an agency admin of agency B,
one request per parameter (``parameters.py``) per corpus value, the other fields keeping valid
values, plus one request per corpus value with every parameter set to it. Anonymously, the
public pages get the same, and the pages behind the login the all-at-once requests only (they
answer with the redirect to the login whatever the parameters).
Every request runs in a savepoint rolled back afterwards, so each one meets the same data: a
disconnect or a delete early on cannot hide the pages after it. Keys the views read are
recorded while this runs; one missing from ``parameters.py`` fails the test.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.db import transaction
from django.http import HttpResponseBase, QueryDict, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from tests.conftest import World
from tests.factories import make_member
from tests.web.parameters import CSV_EXPORTS, FRAMEWORK, PARAMS, Params
from tests.web.routes import PUBLIC, ROUTES
from tests.web.test_isolation import _named_urls


@dataclass(frozen=True)
class Raw:
    """A value already percent-encoded, sent as is (bytes that are not UTF-8)."""

    encoded: str


Value = str | list[str] | Raw

CORPUS: dict[str, Value] = {
    "superscript two": "²",
    "arabic-indic three": "٣",
    "fullwidth one": "\uff11",
    "NUL": "\x00",
    "NUL inside": "Beta\x00Foods",
    "control characters": "\x01\x08\x1b\x7f\x85",
    "header break": "x\r\nSet-Cookie: a=b",
    "tab": "\t",
    "huge": str(10**30),
    "huge negative": str(-(10**30)),
    "negative": "-1",
    "zero": "0",
    "past bigint": str(2**63),
    "empty": "",
    "array": ["1", "2"],
    "array of junk": ["²", "\x00"],
    "oversized digits": "9" * 100_000,
    "oversized text": "x" * 100_000,
    "invalid UTF-8": Raw("%ff%fe"),
    "encoded surrogate": Raw("%ed%a0%80"),
}

TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "django/core/handlers")

_READERS = ("get", "getlist", "__getitem__", "__contains__")


@contextmanager
def parameter_reads() -> Iterator[list[tuple[QueryDict, str]]]:
    """Every ``(QueryDict, key)`` any code looks up while the block runs."""
    reads: list[tuple[QueryDict, str]] = []
    saved = {name: QueryDict.__dict__.get(name) for name in _READERS}

    def recording(name: str) -> Any:
        original = getattr(QueryDict, name)

        def reader(self: QueryDict, key: Any, *args: Any, **kwargs: Any) -> Any:
            reads.append((self, str(key)))
            return original(self, key, *args, **kwargs)

        return reader

    for name in _READERS:
        setattr(QueryDict, name, recording(name))
    try:
        yield reads
    finally:
        for name, own in saved.items():
            if own is None:
                delattr(QueryDict, name)
            else:
                setattr(QueryDict, name, own)


def _encode(data: dict[str, Value]) -> str:
    parts = []
    for key, value in data.items():
        if isinstance(value, Raw):
            parts.append(f"{quote(key)}={value.encoded}")
        else:
            parts.append(urlencode({key: value}, doseq=True))
    return "&".join(part for part in parts if part)


class _Rollback(Exception):
    pass


@dataclass
class Outcome:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    undeclared: set[str] = field(default_factory=set)
    csv: set[str] = field(default_factory=set)


def _body(response: HttpResponseBase) -> bytes:
    """The whole body; a streamed one is read here, where a failure half-way would surface."""
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)  # type: ignore[arg-type]
    return bytes(getattr(response, "content", b""))


class Fuzzer:
    def __init__(self, world: World, kwargs: dict[str, dict[str, Any]], user: User | None) -> None:
        self.world = world
        self.kwargs = kwargs
        self.user = user
        self.outcome = Outcome()

    def client(self, params: Params) -> Client:
        client = Client(raise_request_exception=False)
        if self.user is not None:
            client.force_login(self.user)
        if params.prepare is not None:
            params.prepare(self.world, client)
        return client

    def send(
        self, client: Client, name: str, method: str, url: str, data: dict[str, Value], what: str
    ) -> None:
        """One request in a savepoint that is rolled back, its cookies restored after."""
        cookies = copy.deepcopy(client.cookies)
        encoded = _encode(data)
        status: int | str
        try:
            with transaction.atomic(), parameter_reads() as reads:
                if method == "GET":
                    response = client.get(f"{url}?{encoded}" if encoded else url)
                else:
                    response = client.post(
                        url, data=encoded, content_type="application/x-www-form-urlencoded"
                    )
                body = _body(response)
                request = response.wsgi_request
                status = response.status_code
                if response.get("Content-Type", "").startswith("text/csv"):
                    self.outcome.csv.add(name)
                self._check_reads(name, reads, request.GET, request.POST)
                raise _Rollback
        except _Rollback:
            pass
        except Exception as exc:  # a streamed body that failed half-way, most likely
            status, body = f"raised {type(exc).__name__}", b""
        finally:
            client.cookies = cookies
        self.outcome.requests += 1
        text = body.decode("utf-8", errors="replace")
        if not isinstance(status, int) or status >= 500 or any(m in text for m in TRACEBACK_MARKS):
            who = self.user.email if self.user else "anonymous"
            self.outcome.failures.append(f"{who} {method} {name} {what}: {status}")

    def _check_reads(
        self, name: str, reads: list[tuple[QueryDict, str]], get: QueryDict, post: QueryDict
    ) -> None:
        declared = PARAMS[name]
        for source, key in reads:
            if key in FRAMEWORK:
                continue
            if source is get and key not in declared.get:
                self.outcome.undeclared.add(f"{name}: GET {key}")
            elif source is post and key not in declared.post:
                self.outcome.undeclared.add(f"{name}: POST {key}")

    def walk(self, name: str, *, one_by_one: bool = True) -> None:
        """The corpus over ``name``'s parameters: each alone (``one_by_one``) and all at once."""
        params = PARAMS[name]
        route = ROUTES.get(name)
        methods = params.methods or (route.methods if route else ("GET",))
        valid: dict[str, Value] = dict(
            params.data(self.world) if params.data else route.data if route else {}
        )
        url = reverse(name, kwargs=self.kwargs[name])
        for method in methods:
            keys = params.get if method == "GET" else params.post
            base = {} if method == "GET" else valid
            client = self.client(params)
            self.send(client, name, method, url, base, "valid values")
            for label, value in CORPUS.items():
                for key in keys if one_by_one or len(keys) == 1 else ():
                    data = {k: v for k, v in base.items() if k != key}
                    data[key] = value
                    self.send(client, name, method, url, data, f"{key}={label}")
                if len(keys) > 1:
                    self.send(client, name, method, url, dict.fromkeys(keys, value), f"all={label}")


@pytest.fixture
def url_kwargs(world: World, settings: Any) -> dict[str, dict[str, Any]]:
    """Every URL's kwargs, made once: agency B's link, mirror, change and connect links."""
    # A pasted token that passes the form goes to Copernica: a closed port refuses at once.
    for key in ("AUTHORIZE", "TOKEN", "AUTH", "API", "REST"):
        setattr(settings, f"COPERNICA_{key}_URL", "http://127.0.0.1:9/")
    kwargs = {}
    for name, params in PARAMS.items():
        route = ROUTES.get(name)
        if params.kwargs is not None:
            kwargs[name] = params.kwargs(world)
        else:
            kwargs[name] = route.foreign_kwargs(world) if route else {}
    return kwargs


def test_a_parameter_read_but_not_listed_fails_the_fuzz(
    world: World, url_kwargs: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard itself: with ``q`` left out of the dashboard's list, the walk notices it."""
    monkeypatch.setitem(PARAMS, "home", Params(get=("filter", "sort", "page", "after", "before")))
    fuzzer = Fuzzer(world, url_kwargs, make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b))
    fuzzer.walk("home")
    assert fuzzer.outcome.undeclared == {"home: GET q"}
    assert not fuzzer.outcome.failures


def test_every_url_has_a_parameter_entry() -> None:
    missing = _named_urls() - set(PARAMS)
    assert not missing, f"add these URLs to tests/web/parameters.py: {sorted(missing)}"


def test_fuzzing_every_parameter_of_every_url_gives_no_server_error(
    world: World, url_kwargs: dict[str, dict[str, Any]]
) -> None:
    """Case 42: the corpus over every GET and POST parameter of every URL, as an agency admin
    of the objects' own agency and anonymously: 0 responses >= 500, no traceback shown, and
    no parameter read that ``parameters.py`` does not list."""
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    started = time.monotonic()
    totals = {}
    undeclared: set[str] = set()
    failures: list[str] = []
    csv: set[str] = set()
    names = sorted(_named_urls() & set(PARAMS))
    for user in (admin_b, None):
        fuzzer = Fuzzer(world, url_kwargs, user)
        for name in names:
            # Anonymous, a page behind the login only redirects: all parameters at once will do.
            fuzzer.walk(name, one_by_one=user is not None or name in PUBLIC)
        totals["agency admin" if user else "anonymous"] = fuzzer.outcome.requests
        failures += fuzzer.outcome.failures
        undeclared |= fuzzer.outcome.undeclared
        csv |= fuzzer.outcome.csv
    seconds = time.monotonic() - started
    print(
        f"\ncase 42: {sum(totals.values())} requests ({totals}) over {len(names)} URLs and "
        f"{len(CORPUS)} corpus values in {seconds:.0f} s; responses >= 500: {len(failures)}"
    )
    assert not failures, "\n".join(failures[:50])
    assert not undeclared, f"list these in tests/web/parameters.py: {sorted(undeclared)}"
    # A CSV no escaping test covers would be a way round case 40.
    assert csv == CSV_EXPORTS
    assert sum(totals.values()) > 1000  # the walk really ran
