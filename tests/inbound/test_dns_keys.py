"""Copernica's public keys found in DNS (``keyId="one._domainkey.copernica.com"``), read with
dnspython over real UDP from a small local name server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache

from api_client.dkim import dkim_public_key, dkim_record
from linker.inbound.keys import cached_key_lookup, dns_key_record


class NameServer:
    """Answers TXT questions from ``records`` (name → strings); anything else NXDOMAIN."""

    def __init__(self, records: dict[str, list[bytes]]) -> None:
        self.records = records
        self.questions: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            self.questions.append(name)
            response = dns.message.make_response(query)
            strings = self.records.get(name)
            if strings is None or question.rdtype != dns.rdatatype.TXT:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                text = " ".join('"' + s.decode() + '"' for s in strings)
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, "TXT", text)
                )
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def nameserver(key: rsa.RSAPrivateKey, settings) -> Iterator[NameServer]:  # type: ignore[no-untyped-def]
    record = dkim_record(key.public_key())
    # DNS carries at most 255 bytes per string: a 2048-bit key is split, as DKIM records are.
    chunks = [record[i : i + 200].encode() for i in range(0, len(record), 200)]
    server = NameServer({"one._domainkey.copernica.com": chunks})
    settings.LINKER_WEBHOOK_DNS_NAMESERVERS = [f"127.0.0.1:{server.port}"]
    cache.clear()
    yield server
    server.close()


def test_a_split_dns_record_is_joined_into_the_key(
    nameserver: NameServer, key: rsa.RSAPrivateKey
) -> None:
    record = dns_key_record("one._domainkey.copernica.com")
    assert record is not None
    assert dkim_public_key(record).public_numbers() == key.public_key().public_numbers()


def test_a_missing_record_is_no_key(nameserver: NameServer) -> None:
    assert dns_key_record("two._domainkey.copernica.com") is None
    assert nameserver.questions == ["two._domainkey.copernica.com"]


def test_a_found_key_is_cached_and_asked_for_once(nameserver: NameServer) -> None:
    first = cached_key_lookup("one._domainkey.copernica.com")
    second = cached_key_lookup("one._domainkey.copernica.com")
    assert first is not None
    assert first == second
    assert nameserver.questions == ["one._domainkey.copernica.com"]
