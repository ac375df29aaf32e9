"""Parse a Copernica list envelope item by item while its body is still arriving.

``rest.copernica.com`` streams large profile lists as one chunked JSON document::

    {"start":0,"limit":100000,"count":100000,"data":[{...},{...},...],"total":...}

:class:`EnvelopeStream` yields the items of ``data`` one at a time from an iterator of byte
chunks (e.g. ``httpx.Response.iter_bytes()``) and holds only the unparsed tail of the body,
never the whole list. The other envelope keys end up in :attr:`EnvelopeStream.envelope`.

:class:`IdArrayStream` does the same for Copernica's bare array of (sub)profile IDs
(``["1","2",...]``), a block of IDs at a time.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import UnexpectedResponseError

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_COMPACT_AFTER = 1 << 16
# One array element and the separator after it: a quoted or bare non-negative integer.
_ID_ITEMS = re.compile(rb'(?:[ \t\n\r]*(?:"[0-9]+"|[0-9]+)[ \t\n\r]*,)*')
_ID_LAST = re.compile(rb'[ \t\n\r]*(?:"[0-9]+"|[0-9]+)[ \t\n\r]*\][ \t\n\r]*')
_ID_EMPTY = re.compile(rb"[ \t\n\r]*\][ \t\n\r]*")
_ID_START = re.compile(rb"[ \t\n\r]*\[")
_DIGITS = re.compile(rb"[0-9]+")


class EnvelopeStream:
    """Iterate the ``data`` items of a list envelope read from ``chunks``.

    After iteration :attr:`envelope` holds the other keys (``start``, ``limit``, ``count``,
    ``nextid``, ``total``) and :attr:`items_seen` the number of items yielded. Malformed or
    truncated input raises :class:`~api_client.errors.UnexpectedResponseError`.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._position = 0
        self._exhausted = False
        self.envelope: dict[str, Any] = {}
        self.items_seen = 0

    def __iter__(self) -> Iterator[Any]:
        self._expect("{")
        self._skip_whitespace()
        if self._peek() == "}":
            self._position += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise UnexpectedResponseError("The list answer is not a JSON object.")
            self._expect(":")
            if key == "data":
                yield from self._items()
            else:
                self.envelope[key] = self._value()
            separator = self._next_char()
            if separator == "}":
                return
            if separator != ",":
                raise UnexpectedResponseError("The list answer is not valid JSON.")

    def _items(self) -> Iterator[Any]:
        self._expect("[")
        self._skip_whitespace()
        if self._peek() == "]":
            self._position += 1
            return
        while True:
            yield self._value()
            self.items_seen += 1
            separator = self._next_char()
            if separator == "]":
                return
            if separator != ",":
                raise UnexpectedResponseError("The list answer is not valid JSON.")

    def _fill(self) -> bool:
        """Append the next chunk to the buffer; ``False`` at the end of the body."""
        if self._exhausted:
            return False
        if self._position > _COMPACT_AFTER:
            self._buffer = self._buffer[self._position :]
            self._position = 0
        for chunk in self._chunks:
            text = self._decoder.decode(chunk)
            if text:
                self._buffer += text
                return True
        self._buffer += self._decoder.decode(b"", final=True)
        self._exhausted = True
        return False

    def _skip_whitespace(self) -> None:
        while True:
            match = _WHITESPACE.match(self._buffer, self._position)
            assert match is not None
            self._position = match.end()
            if self._position < len(self._buffer) or not self._fill():
                return

    def _peek(self) -> str:
        self._skip_whitespace()
        if self._position >= len(self._buffer):
            raise UnexpectedResponseError("The list answer ended early.")
        return self._buffer[self._position]

    def _next_char(self) -> str:
        char = self._peek()
        self._position += 1
        return char

    def _expect(self, char: str) -> None:
        if self._next_char() != char:
            raise UnexpectedResponseError("The list answer is not valid JSON.")

    def _value(self) -> Any:
        self._skip_whitespace()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError:
                if not self._fill():
                    raise UnexpectedResponseError(
                        "The list answer is not valid JSON or ended early."
                    ) from None
                continue
            # A number at the very end of the buffer may continue in the next chunk; inside an
            # envelope every value is followed by "," "]" or "}", so wait for that character.
            if end < len(self._buffer) or not self._fill():
                self._position = end
                return value


class IdArrayStream:
    """Iterate the IDs of a JSON array of integers or integer strings read from ``chunks``.

    Yields blocks (lists) of IDs as ``str``, one block per chunk or so, and holds only the
    unparsed tail of the body, so a million IDs never sit in memory at once. Anything but such
    an array, or a body that ends before its ``]``, raises
    :class:`~api_client.errors.UnexpectedResponseError`.
    """

    def __init__(self, chunks: Iterable[bytes], *, what: str = "profile") -> None:
        self._chunks = iter(chunks)
        self._error = f"Copernica's {what} ID list is not a JSON array of IDs, or it ended early."
        self.items_seen = 0

    def __iter__(self) -> Iterator[list[str]]:
        buffer = b""
        started = False
        for chunk in self._chunks:
            buffer += chunk
            if not started:
                opening = _ID_START.match(buffer)
                if opening is None:
                    if buffer.strip():
                        raise UnexpectedResponseError(self._error)
                    continue
                buffer = buffer[opening.end() :]
                started = True
            # Everything up to the last comma is complete: elements followed by separators.
            cut = buffer.rfind(b",") + 1
            if not cut:
                continue
            block, buffer = buffer[:cut], buffer[cut:]
            if _ID_ITEMS.fullmatch(block) is None:
                raise UnexpectedResponseError(self._error)
            ids = [value.decode() for value in _DIGITS.findall(block)]
            self.items_seen += len(ids)
            yield ids
        if not started:
            raise UnexpectedResponseError(self._error)
        if self.items_seen == 0 and _ID_EMPTY.fullmatch(buffer):
            return
        if _ID_LAST.fullmatch(buffer) is None:
            raise UnexpectedResponseError(self._error)
        last = [value.decode() for value in _DIGITS.findall(buffer)]
        self.items_seen += len(last)
        yield last
