"""The local HTTP server's request handling (`make run` and `chalice local`), hardened.

chalice local's handler is a development convenience: HEAD writes a body the client does not
read (so the next response on the connection is garbage), a chunked body is dropped, a short body
hangs the thread forever, and protocol errors are answered with HTML. These replacements give
every case an OpenAI-shaped answer: a HEAD answers GET's headers without a body, a chunked body
is read (up to the body limit), a body that does not arrive is a 408 after a read timeout, a URL
or headers too long are a 414 or 431, and conflicting Authorization headers are a 401.

Each connection has its own thread (chalice's ThreadingMixIn server), so a slow client holds up
only itself.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice import local

from ..domain.errors import conflicting_authorizations

READ_TIMEOUT_SECONDS = 10
MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
_CHUNK_LINE_BYTES = 1024


class Refusal(Exception):
    """A request answered with an error before it reaches the app."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def error_body(message: str, code: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return json.dumps({"error": error}).encode()


def unknown_route(method: str, path: str) -> dict[str, Any]:
    """chalice local answers an unknown route like API Gateway (403); we answer OpenAI's 404."""
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "body": error_body(f"Invalid URL ({method} {path.split('?', 1)[0]})").decode(),
    }


def read_chunked(rfile: Any, limit: int) -> bytes:
    """A `Transfer-Encoding: chunked` body, refused past `limit` bytes or when malformed."""
    body = bytearray()
    while True:
        line = rfile.readline(_CHUNK_LINE_BYTES)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Refusal(400, "The chunked request body is malformed.") from None
        if size < 0:
            raise Refusal(400, "The chunked request body is malformed.")
        if size == 0:
            while rfile.readline(_CHUNK_LINE_BYTES) not in (b"\r\n", b"\n", b""):
                pass  # trailers: not used
            return bytes(body)
        if len(body) + size > limit:
            raise Refusal(413, f"Request body too large: over the limit of {limit} bytes.")
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise Refusal(400, "The chunked request body ended early.")
        body += chunk
        rfile.readline(_CHUNK_LINE_BYTES)  # the CRLF after the chunk


class HardenedHandling:
    """Methods that replace chalice local's on its ChaliceRequestHandler (see `install`)."""

    timeout: float = READ_TIMEOUT_SECONDS  # a socket timeout: no read waits longer than this
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms ACK delay
    max_body_bytes = 1024 * 1024

    # These are attributes of BaseHTTPRequestHandler, present where the methods run.
    headers: Any
    rfile: Any
    wfile: Any
    command: str
    path: str
    close_connection: bool
    local_gateway: Any

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> Any:
        """Protocol errors (bad request line, headers too long) in the OpenAI error shape."""
        text = message or self.responses.get(code, ("Error",))[0]  # type: ignore[attr-defined]
        self._send_json(code, error_body(text))

    def _send_json(self, status: int, body: bytes, close: bool = True) -> None:
        if close:
            self.close_connection = True
        self.send_response(status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))  # type: ignore[attr-defined]
        if close:
            self.send_header("Connection", "close")  # type: ignore[attr-defined]
        self.end_headers()  # type: ignore[attr-defined]
        if self.command != "HEAD":
            self.wfile.write(body)

    def parse_request(self) -> bool:
        try:
            parsed = BaseHTTPRequestHandler.parse_request(self)  # type: ignore[arg-type]
        except TimeoutError:
            self.command = getattr(self, "command", None) or "GET"
            self._send_json(408, error_body("The request headers were not received in time."))
            return False
        if not parsed:
            return False
        if len(self.path.encode()) > MAX_URL_BYTES:
            self.send_error(414, f"The URL is too long: over {MAX_URL_BYTES} bytes.")
            return False
        size = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self.send_error(
                431, f"The request headers are too large: over {MAX_HEADER_BYTES} bytes."
            )
            return False
        return True

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return read_chunked(self.rfile, self.max_body_bytes)
        if self.headers.get("transfer-encoding"):
            raise Refusal(501, "Unsupported Transfer-Encoding: send a Content-Length or chunks.")
        raw = self.headers.get("content-length")
        if raw is None:
            return None
        try:
            length = int(raw)
        except ValueError:
            raise Refusal(400, "The Content-Length header is not a number.") from None
        if length < 0:
            raise Refusal(400, "The Content-Length header is not a number.")
        if length > self.max_body_bytes:
            raise Refusal(
                413,
                f"Request body too large: {length} bytes, over the limit of "
                f"{self.max_body_bytes} bytes.",
            )
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise Refusal(400, "The request body ended before its Content-Length.")
        return body

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        authorizations = set(self.headers.get_all("authorization") or [])
        if len(authorizations) > 1:
            error = conflicting_authorizations()
            raise Refusal(error.status, str(error), error.code)
        try:
            body = self._read_body()
        except TimeoutError:
            raise Refusal(
                408,
                f"The request body was not received within {self.timeout} s "
                "(is the Content-Length larger than the body?).",
            ) from None
        return dict(self.headers), body

    def _generic_handle(self) -> None:
        try:
            headers, body = self._parse_payload()
        except Refusal as refusal:
            self._send_json(refusal.status, error_body(refusal.message, refusal.code))
            return
        from .streaming import stream_if_asked  # imported here: only the local stage needs it

        if stream_if_asked(self, headers, body):
            return
        method = "GET" if self.command == "HEAD" else self.command
        try:
            response = self.local_gateway.handle_request(
                method=method, path=self.path, headers=headers, body=body
            )
        except local.ForbiddenError:
            response = unknown_route(self.command, self.path)
        except local.LocalGatewayException as error:
            self._send_json(error.CODE, error_body(str(error.body or error)), close=False)
            return
        response_headers = {**response["headers"], **response["multiValueHeaders"]}
        response = self._handle_binary(response)  # type: ignore[attr-defined]
        self._send_http_response(  # type: ignore[attr-defined]
            response["statusCode"], response_headers, response["body"]
        )

    def _send_http_response_with_body(
        self, code: int, headers: dict[str, Any], body: str | bytes
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(data)))  # type: ignore[attr-defined]
        self.send_header(  # type: ignore[attr-defined]
            "Content-Type", headers.pop("Content-Type", "application/json")
        )
        self._send_headers(headers)  # type: ignore[attr-defined]
        if self.command != "HEAD":  # a HEAD answer has GET's headers and no body
            self.wfile.write(data)


_HANDLED = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def install(max_body_bytes: int, read_timeout_seconds: int = READ_TIMEOUT_SECONDS) -> None:
    """Put the hardened handling onto chalice local's request handler (idempotent).

    chalice local builds its server with ChaliceRequestHandler as a default argument, so the
    class itself is changed rather than replaced.
    """
    handler = local.ChaliceRequestHandler
    for name, value in vars(HardenedHandling).items():
        if not name.startswith("__"):
            setattr(handler, name, value)
    handler.max_body_bytes = max_body_bytes  # type: ignore[attr-defined]
    handler.timeout = read_timeout_seconds
    for method in _HANDLED:
        setattr(handler, f"do_{method}", HardenedHandling._generic_handle)
