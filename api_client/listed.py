"""A page of (sub)profiles decoded for copying: each item's ``fields`` (and a profile's
``interests``) kept as the JSON text Copernica sent, not as Python objects.

A sync writes those values into the mirror as JSON again, so decoding them into dictionaries
only to encode them back was wasted work on every page, holding the GIL against the thread
that writes pages (decode and COPY text of 1,000 subprofiles: 2.5-3.2 ms that way, 1.9-2.4 ms
this way, timestamps included).
msgspec decodes the page into typed items, skips the keys a sync does not keep (``secret``,
``collection``, ``removed``) and leaves ``fields`` and ``interests`` as raw text.

Only a page this can keep exactly is decoded so (:func:`listed_page` answers ``None``
otherwise, and the caller takes the general way, :func:`~api_client.responses.decode_json`):

- a body that is UTF-8 throughout (msgspec checks the strings it decodes, not the raw text
  it keeps) and JSON of the expected shape (an ID as a string or an integer,
  timestamps as strings or ``null``);
- no tab, line feed or carriage return anywhere in it: whitespace outside strings would end
  a row of COPY text (inside strings JSON escapes them), and Copernica writes compact JSON;
- no surrogate escape (``\\ud83d``): PostgreSQL's ``jsonb`` refuses a lone one, and the general
  way writes a pair back as the character it makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

# A surrogate's escape, or text that merely looks like one (after an escaped backslash):
# either way the page takes the general way.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class ListedItem(msgspec.Struct, gc=False):
    """One (sub)profile of a list answer. ``fields`` and ``interests`` are Copernica's JSON
    text (``b""`` when the answer leaves the key out); ``profile`` is a subprofile's owner.

    Not tracked by the garbage collector (it holds strings, integers and raw bytes, so it
    cannot be part of a cycle): a page's thousand items no longer set off collections that
    walk the pages waiting in the prefetcher."""

    ID: str | int
    fields: msgspec.Raw = msgspec.Raw(b"")
    interests: msgspec.Raw = msgspec.Raw(b"")
    profile: str | int | None = None
    created: str | None = None
    modified: str | None = None


class _Envelope(msgspec.Struct):
    data: list[ListedItem]
    count: int
    nextid: str | int | None = None


_DECODER = msgspec.json.Decoder(_Envelope)


@dataclass(frozen=True)
class ListedPage:
    """The items of a list answer with their IDs as integers, and Copernica's ``nextid``."""

    items: list[ListedItem]
    ids: list[int]
    nextid: int | None


def listed_page(body: bytes) -> ListedPage | None:
    """``body`` (a list answer) decoded for copying; ``None`` if it must be decoded the
    general way (see the module's documentation), which then also reports what is wrong."""
    if b"\n" in body or b"\t" in body or b"\r" in body or _SURROGATE_ESCAPE.search(body):
        return None
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    try:
        envelope = _DECODER.decode(body)
        ids = [int(item.ID) for item in envelope.data]
        nextid = int(envelope.nextid) if envelope.nextid is not None else None
    except (msgspec.DecodeError, ValueError):  # ValidationError is a DecodeError
        return None
    return ListedPage(envelope.data, ids, nextid)


def raw_text(raw: msgspec.Raw) -> str:
    """The JSON text of a raw value of a :class:`ListedItem` (``""`` for a key the answer left
    out); UTF-8, as :func:`listed_page` checked."""
    return bytes(raw).decode()
