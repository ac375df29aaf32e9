"""The sandbox's HTTP server: stdlib ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .admin import PREFIX, ControlApi
from .console import console_page
from .http import Request, Response, error_response, html_response
from .json_cache import DEFAULT_CACHE_PROFILES
from .pages import loadbalancer_error_page
from .persistence import StateFile, changes_state
from .state import Fault, SandboxState
from .surface import CopernicaSurface
from .webhook_keys import KEYS_PREFIX

logger = logging.getLogger("api_client.sandbox")


class SandboxHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into :class:`Request` values, applies faults, writes answers."""

    protocol_version = "HTTP/1.1"
    server_version = "CopernicaSandbox/1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed
    # ACKs add ~40 ms to every small answer on a keep-alive connection.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"sandbox: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(error_response("Internal sandbox error", 500))

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            method=self.command,
            path=unquote(url.path),
            query=parse_qsl(url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        if url.path.startswith(PREFIX):
            response = self.server.control.handle(request)
            self._saved(request)
            self._send(response)
            return
        if request.path == "/" and request.method == "GET":
            # The console for people; like the control API, neither counted nor faulted.
            self._send(console_page(self.server.control, request))
            return
        if request.path.startswith(KEYS_PREFIX) and request.method == "GET":
            # Where the webhook signatures' keyIds point (DNS TXT at real Copernica).
            self._send(_key_response(self.server.state, request.path[len(KEYS_PREFIX) :]))
            return
        self.server.surface.count(request)
        fault = self.server.state.take_fault(request.method, request.path)
        if fault is not None:
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            if fault.drop == "before":
                self._drop()
                return
            if fault.status is not None:
                self._send(_fault_response(fault))
                return
        response = self.server.surface.handle(request)
        self._saved(request)
        if fault is not None and fault.drop == "after":
            # The request's effect is applied; only its answer is lost.
            self._drop()
            return
        self._send(response)

    def _saved(self, request: Request) -> None:
        """Write the state file (if any) before answering a request that changed the state."""
        state_file = self.server.state_file
        if state_file is not None and changes_state(request.method, request.path):
            state_file.save()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        self.close_connection = True
        self.wfile.flush()

    def _send(self, response: Response) -> None:
        with self.server.state.lock:
            self.server.state.stats.statuses[str(response.status)] += 1
        self.log_request(response.status)
        status = response.status
        phrase = self.responses[status][0] if status in self.responses else ""
        lines = [
            f"{self.protocol_version} {status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {_http_date()}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        for name, value in response.headers:
            if name.lower() == "connection":
                self.close_connection = value.lower() == "close"
        if response.chunks is None:
            lines.append(f"Content-Length: {len(response.body)}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            # Status line, headers and body in one write.
            if self.command != "HEAD" and response.body:
                self.wfile.write(head + response.body)
            else:
                self.wfile.write(head)
            return
        lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # The head goes out with the first chunk; each chunk is one write.
        for chunk in response.chunks:
            if chunk:
                self.wfile.write(b"%b%x\r\n%b\r\n" % (head, len(chunk), chunk))
                head = b""
        self.wfile.write(head + b"0\r\n\r\n")


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def _key_response(state: SandboxState, selector: str) -> Response:
    record = state.webhook_keys.record(selector)
    if record is None:
        return Response(404, [("Content-Type", "text/plain")], b"No such key\n")
    headers = [("Content-Type", "text/plain"), ("Cache-Control", "no-store")]
    return Response(200, headers, record.encode())


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 503
    if status == 429:
        headers = []
        if fault.retry_after is not None:
            headers.append(("Retry-After", str(fault.retry_after)))
        return error_response("Too many requests", 429, headers)
    if status in (502, 503, 504):
        return html_response(status, loadbalancer_error_page(status))
    return error_response("Injected fault", status)


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that holds the sandbox state."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: SandboxState,
        surface: CopernicaSurface,
        *,
        verbose: bool = False,
        state_file: StateFile | None = None,
    ) -> None:
        self.state = state
        self.surface = surface
        self.control = ControlApi(state)
        self.verbose = verbose
        self.state_file = state_file
        super().__init__(address, SandboxHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # a client went away; nothing to report
        super().handle_error(request, client_address)


class SandboxServer:
    """A sandbox that runs in a background thread of this process.

    ``SandboxServer("127.0.0.1", 0, seed=1).start()`` picks a free port; :attr:`url` is the
    base URL (``http://127.0.0.1:PORT``). Use :meth:`stop` (or ``with``) to shut it down.
    With ``state_file`` the state is loaded from that file (when it exists) and written to it
    after every change and at :meth:`stop` (:mod:`~api_client.sandbox.persistence`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        *,
        allow_url_token: bool = False,
        legacy_auth_errors: bool = False,
        lenient_auth: bool = False,
        verbose: bool = False,
        profile_cache: int = DEFAULT_CACHE_PROFILES,
        state_file: Path | str | None = None,
        public_url: str | None = None,
    ) -> None:
        self.state = SandboxState(seed, profile_cache=profile_cache)
        self.state_file = StateFile(self.state, state_file) if state_file is not None else None
        if self.state_file is not None:
            self.state_file.load()
        surface = CopernicaSurface(
            self.state,
            allow_url_token=allow_url_token,
            legacy_auth_errors=legacy_auth_errors,
            lenient_auth=lenient_auth,
        )
        self.httpd = SandboxHTTPServer(
            (host, port), self.state, surface, verbose=verbose, state_file=self.state_file
        )
        self.state.public_url = (public_url or self._reachable_url()).rstrip("/")
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _reachable_url(self) -> str:
        # A wildcard address is no place to fetch a key from; loopback is, on this machine.
        host, port = self.httpd.server_address[:2]
        wildcards = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}  # noqa: S104 - replaced, not bound
        host = wildcards.get(str(host), str(host))
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="copernica-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self.httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving, release the port and write the state file (if any)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.close()

    def close(self) -> None:
        """Release the port and write the state file (if any); after :meth:`serve_forever`."""
        self.httpd.server_close()
        self.state.deliveries.close()
        if self.state_file is not None:
            # Faults used up since the last change are written here.
            self.state_file.save()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
