"""Everything the sandbox remembers: accounts, tokens, OAuth, JWTs, faults, counters, webhooks.

One :class:`SandboxState` per server; every read and write holds ``state.lock``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

from .clock import now_timestamp, timestamp
from .json_cache import DEFAULT_CACHE_PROFILES, ProfileCache
from .names import COMPANY_SUFFIXES
from .records import FieldDef, default_fields, default_interests
from .store import Database
from .subprofile_generation import SubprofileGenerator, template_for
from .subprofiles import Collection
from .webhook_delivery import WebhookDispatcher
from .webhook_keys import WebhookKeyRing
from .webhook_registry import Webhook

DEFAULT_JWT_LIFETIME = 86_400
CODE_LIFETIME = 600
#: Subprofile IDs are a sequence of their own; starting far from profile IDs makes a mix-up
#: of the two show in tests.
SUBPROFILE_IDS_FROM = 50_000_001


@dataclass
class Account:
    id: int
    name: str
    company: str
    databases: list[Database]
    api_tokens: list[str] = field(default_factory=list)

    @property
    def database(self) -> Database:
        """The account's first database."""
        return self.databases[0]


@dataclass
class Options:
    """Switches of the simulated Copernica, set through the control API (``options``).

    ``id_list_cap``: an id list (``profileids``, ``subprofileids``) asked for without
    ``start`` or ``limit`` answers at most this many IDs (``None``: all of them).
    ``unstreamed``: list methods of the ``rest`` host answered as "not streamed yet", at
    most 1000 rows whatever ``limit`` asks (names from :data:`STREAMED_METHODS`).
    ``clock``: the instant (UTC epoch seconds) every write is stamped with, instead of now,
    so a test can make a change at a chosen moment (the autumn's repeated hour); ``None``:
    the real clock.
    """

    id_list_cap: int | None = None
    unstreamed: frozenset[str] = frozenset()
    clock: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id_list_cap": self.id_list_cap,
            "unstreamed": sorted(self.unstreamed),
            "clock": self.clock,
        }


#: The list methods the ``rest`` host streams (copernica-api.md §1).
STREAMED_METHODS = frozenset({"database/{id}/profiles", "collection/{id}/subprofiles"})


@dataclass
class ApiToken:
    token: str
    account_id: int
    revoked: bool = False
    via_client_id: str | None = None


@dataclass
class Application:
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    account_id: int
    expires_at: float


@dataclass
class IssuedJwt:
    api_token: str
    account_id: int
    expires_at: int
    force_expired: bool = False


@dataclass
class Fault:
    """A pending injected failure (see DESIGN.md, "The sandbox contract")."""

    path: str = "/"
    method: str | None = None
    count: int = 1
    status: int | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    drop: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (self.method is None or self.method == method)

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
            "drop": self.drop,
        }


class Stats:
    """Request counters, for tests to assert on."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.by_method: Counter[str] = Counter()
        self.by_prefix: Counter[str] = Counter()
        self.api_calls_by_account: Counter[str] = Counter()
        self.auth_calls_by_account: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def as_json(self) -> dict[str, object]:
        keys = (
            "auth_calls",
            "token_calls",
            "api_calls",
            "authorize_calls",
            "auth_failures",
            "jwts_issued",
            "faults_applied",
            "profiles_created",
            "profiles_updated",
            "profiles_deleted",
            "subprofiles_created",
            "subprofiles_updated",
            "subprofiles_deleted",
        )
        document: dict[str, object] = {key: self.counters[key] for key in keys}
        document.update(
            requests=dict(self.requests),
            by_method=dict(self.by_method),
            by_prefix=dict(self.by_prefix),
            statuses=dict(self.statuses),
            api_calls_by_account=dict(self.api_calls_by_account),
            auth_calls_by_account=dict(self.auth_calls_by_account),
        )
        return document


class JwtError(Exception):
    """A Bearer JWT the API refuses; ``message`` is Copernica's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SandboxState:
    """The in-memory world of one sandbox server."""

    def __init__(self, seed: int = 0, *, profile_cache: int = DEFAULT_CACHE_PROFILES) -> None:
        """``profile_cache``: how many serialized generated profiles and subprofiles to keep
        (0: none)."""
        self.seed = seed
        self.profile_cache_size = profile_cache
        self.lock = threading.RLock()
        self._jwt_key = secrets.token_bytes(32)
        #: The sandbox's root URL as webhook receivers reach it: the keyIds point there.
        self.public_url = "http://127.0.0.1"
        # Like the JWT key, the signing keys outlive a reset (and are in the state file).
        self.webhook_keys = WebhookKeyRing()
        self.deliveries = WebhookDispatcher(self.webhook_keys, lambda: self.public_url)
        self.reset()

    def reset(self) -> None:
        """Back to the start state: no accounts, applications, tokens, faults or counts."""
        with self.lock:
            self.random = random.Random(self.seed)
            self.accounts: dict[int, Account] = {}
            self.databases: dict[int, Database] = {}
            self.tokens: dict[str, ApiToken] = {}
            self.applications: dict[str, Application] = {}
            self.codes: dict[str, AuthorizationCode] = {}
            self.jwts: dict[str, IssuedJwt] = {}
            self.faults: list[Fault] = []
            self.jwt_lifetime = DEFAULT_JWT_LIFETIME
            self.stats = Stats()
            self.next_account_id = 1001
            self.next_database_id = 501
            self.next_schema_id = 1
            self.next_profile_id = 100_001
            self.next_subprofile_id = SUBPROFILE_IDS_FROM
            self.options = Options()
            self._range_bases: list[int] = []
            self._range_databases: list[Database] = []
            self._created_owner: dict[int, Database] = {}
            self.collections: dict[int, Collection] = {}
            self._subprofile_bases: list[int] = []
            self._subprofile_collections: list[Collection] = []
            self._created_subprofile_owner: dict[int, Collection] = {}
            # Shared by the databases: profile IDs are unique within the state.
            self.profile_cache = ProfileCache(self.profile_cache_size)
            self.webhooks: dict[int, Webhook] = {}
            self.next_webhook_id = 1
            self.deliveries.clear()

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        name: str,
        profiles: int,
        *,
        databases: int = 1,
        collections: int = 0,
        subprofiles: int = 0,
    ) -> Account:
        """An account of ``databases`` databases, each with ``profiles`` generated profiles
        and ``collections`` collections of ``subprofiles`` generated subprofiles."""
        with self.lock:
            account_id = self.next_account_id
            self.next_account_id += 1
            stores = [
                self._create_database(account_id, name, number, profiles, collections, subprofiles)
                for number in range(databases)
            ]
            company = f"{name} {self.random.choice(COMPANY_SUFFIXES)}"
            account = Account(account_id, name, company, stores)
            self.accounts[account_id] = account
            self.issue_api_token(account_id)
            return account

    def _create_database(
        self,
        account_id: int,
        account_name: str,
        number: int,
        profiles: int,
        collections: int,
        subprofiles: int,
    ) -> Database:
        database_id = self.next_database_id
        self.next_database_id += 1
        fields = default_fields(self.next_schema_id)
        interests = default_interests(self.next_schema_id + len(fields))
        self.next_schema_id += len(fields) + len(interests)
        base = self.next_profile_id
        self.next_profile_id += profiles
        created = timestamp(1_451_606_400 + self.random.randrange(200_000_000))
        name = f"{account_name} contacts" if account_name else "Contacts"
        database = Database(
            id=database_id,
            name=name if number == 0 else f"{name} {number + 1}",
            account_id=account_id,
            seed=self.seed,
            base=base,
            size=profiles,
            created=created,
            fields=fields,
            interests=interests,
            cache=self.profile_cache,
        )
        for position in range(collections):
            database.collections.append(self._create_collection(database, position, subprofiles))
        # Built now rather than by the first "modified since" query, which it would slow down
        # (~0.1 s per 100,000 profiles): Copernica's own index on modified is always there.
        database.modified_index_build()
        self.databases[database_id] = database
        self._range_bases.append(base)
        self._range_databases.append(database)
        return database

    def _create_collection(self, database: Database, position: int, size: int) -> Collection:
        template = template_for(position)
        collection_id = self.next_schema_id
        fields = [
            FieldDef(collection_id + 1 + offset, item.name, item.type, item.default)
            for offset, item in enumerate(template.fields)
        ]
        self.next_schema_id += 1 + len(fields)
        base = self.next_subprofile_id
        self.next_subprofile_id += size
        generator = SubprofileGenerator(
            seed=self.seed,
            collection_id=collection_id,
            base=base,
            profile_base=database.base,
            profile_count=database.size,
            fields=template.fields,
        )
        collection = Collection(
            collection_id,
            template.name,
            database.id,
            base,
            size,
            fields,
            generator,
            cache=self.profile_cache,
        )
        self.collections[collection_id] = collection
        self._subprofile_bases.append(base)
        self._subprofile_collections.append(collection)
        return collection

    def issue_api_token(self, account_id: int, via_client_id: str | None = None) -> str:
        with self.lock:
            token = self.random.getrandbits(128).to_bytes(16, "big").hex()
            self.tokens[token] = ApiToken(token, account_id, via_client_id=via_client_id)
            self.accounts[account_id].api_tokens.append(token)
            return token

    def allocate_profile(self, database: Database) -> int:
        with self.lock:
            profile_id = self.next_profile_id
            self.next_profile_id += 1
            self._created_owner[profile_id] = database
            return profile_id

    def allocate_subprofile(self, collection: Collection) -> int:
        with self.lock:
            subprofile_id = self.next_subprofile_id
            self.next_subprofile_id += 1
            self._created_subprofile_owner[subprofile_id] = collection
            return subprofile_id

    def collection_of_subprofile(self, subprofile_id: int) -> Collection | None:
        with self.lock:
            index = bisect_right(self._subprofile_bases, subprofile_id) - 1
            if index >= 0:
                collection = self._subprofile_collections[index]
                if subprofile_id < collection.base + collection.size:
                    return collection
            return self._created_subprofile_owner.get(subprofile_id)

    def database_of_profile(self, profile_id: int) -> Database | None:
        with self.lock:
            index = bisect_right(self._range_bases, profile_id) - 1
            if index >= 0:
                database = self._range_databases[index]
                if profile_id < database.base + database.size:
                    return database
            return self._created_owner.get(profile_id)

    # ------------------------------------------------------------------ JWTs

    def issue_jwt(self, api_token: ApiToken) -> str:
        with self.lock:
            issued_at = int(time.time())
            expires_at = issued_at + self.jwt_lifetime
            jti = secrets.token_hex(16)
            self.jwts[jti] = IssuedJwt(api_token.token, api_token.account_id, expires_at)
            self.stats.counters["jwts_issued"] += 1
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "iat": issued_at,
                    "exp": expires_at,
                    "sub": str(api_token.account_id),
                    "jti": jti,
                }
            ).encode()
        )
        signature = hmac.new(self._jwt_key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def check_jwt(self, token: str) -> Account:
        """The account a Bearer JWT opens, or :class:`JwtError` with Copernica's message."""
        parts = token.split(".")
        if len(parts) != 3:
            raise JwtError("Invalid access token")
        expected = hmac.new(self._jwt_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        if not hmac.compare_digest(_b64(expected.digest()), parts[2]):
            raise JwtError("Invalid access token")
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            jti = str(claims["jti"])
        except (ValueError, KeyError, TypeError):
            raise JwtError("Invalid access token") from None
        with self.lock:
            issued = self.jwts.get(jti)
            if issued is None:
                raise JwtError("Invalid access token")
            api_token = self.tokens.get(issued.api_token)
            if api_token is None or api_token.revoked:
                raise JwtError("Invalid access token")
            if issued.force_expired or issued.expires_at <= time.time():
                raise JwtError("Access token expired")
            return self.accounts[issued.account_id]

    def expire_jwts(self) -> None:
        with self.lock:
            for issued in self.jwts.values():
                issued.force_expired = True

    # ------------------------------------------------------------------ faults

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    self.stats.counters["faults_applied"] += 1
                    return fault
            return None

    def now(self) -> str:
        clock = self.options.clock
        return now_timestamp() if clock is None else timestamp(clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
