"""Fetching an `image_url` for a model, without letting a message reach our own network (SSRF).

A message's `image_url` is chosen by whoever can write messages, and the worker fetches it from
inside the deployment: a naive fetch could read the instance metadata service
(169.254.169.254), a database on a private subnet, or localhost. So:

- only `https` (plain http would let anyone on the path swap the image; the hosted API wanted
  publicly reachable URLs anyway);
- the host is resolved once, every address it resolves to must be public (not loopback,
  private, link-local, CGNAT, multicast, reserved, unspecified, nor an IPv6 form embedding one
  of those: IPv4-mapped, 6to4, NAT64), and the connection is made to that checked address with
  the original name kept for TLS (SNI and certificate check) and the Host header, so a second
  resolution cannot answer differently (DNS rebinding);
- at most `max_redirects` redirects, each hop checked again in the same way;
- one deadline for the whole fetch (resolution, connects, reads), a size limit checked against
  Content-Length and while reading;
- the body must say it is an image and be one: PNG, JPEG, GIF or WebP by its magic bytes (the
  formats both Bedrock Converse and chat completions take).

Standard library only (the Lambda stays lean). Tests reach a local server by injecting
`resolve`, `allow_address` and `schemes`; production code never passes them.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024
# Networks Python's `is_global` still counts as global but nobody should fetch from.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # CGNAT (also not is_global; kept explicit)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "64:ff9b:1::/48",  # local-use NAT64
        "fc00::/7",  # unique local (ULA)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ImageFetchError(Exception):
    """The image could not be fetched or is not one; the message says why (for last_error)."""


@dataclass(frozen=True)
class FetchedImage:
    media_type: str  # image/png, image/jpeg, image/gif or image/webp
    data: bytes


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IpAddress) -> bool:
    """Whether a fetch may connect to `address` (see the module docstring for what is not)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public_address(inner)
    if isinstance(address, ipaddress.IPv6Address) and address.teredo is not None:
        return False  # a tunnel to an address we cannot check
    if any(address in network for network in _NOT_PUBLIC if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (numeric forms like 0x7f.1 included, as libc reads them)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def sniff_image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand; `host` stays the name (Host header)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and the certificate check use the name, not the address we connected to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class ImageFetcher:
    def __init__(
        self,
        max_bytes: int,
        timeout_seconds: float,
        max_redirects: int = 3,
        *,
        resolve: Callable[[str, int], list[str]] = system_resolve,
        allow_address: Callable[[IpAddress], bool] = is_public_address,
        schemes: tuple[str, ...] = ("https",),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self._resolve = resolve
        self._allow = allow_address
        self._schemes = schemes
        self._ssl = ssl_context

    def fetch(self, url: str) -> FetchedImage:
        deadline = time.monotonic() + self.timeout_seconds
        for _ in range(self.max_redirects + 1):
            status, headers, body = self._get(url, deadline)
            if status in REDIRECTS:
                location = headers.get("location")
                if not location:
                    raise ImageFetchError(f"the image URL redirected (HTTP {status}) nowhere")
                url = urljoin(url, location)
                continue
            if status != 200:
                raise ImageFetchError(f"the image URL answered HTTP {status}")
            return self._image(headers, body)
        raise ImageFetchError(f"the image URL redirected more than {self.max_redirects} times")

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ImageFetchError(f"fetching the image took longer than {self.timeout_seconds} s")
        return left

    def _address(self, host: str, port: int, deadline: float) -> str:
        """Resolve once (within the deadline: getaddrinfo itself has no timeout)."""
        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal needs no lookup
        except ValueError:
            addresses = self._lookup(host, port, deadline)
        for raw in addresses:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
            if not self._allow(address):
                raise ImageFetchError(
                    f"the image host {host!r} is not a public address; images are only "
                    "fetched from the public internet"
                )
        return addresses[0]

    def _lookup(self, host: str, port: int, deadline: float) -> list[str]:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            future = pool.submit(self._resolve, host, port)
            addresses = future.result(timeout=self._left(deadline))
        except concurrent.futures.TimeoutError:
            raise ImageFetchError(
                f"fetching the image took longer than {self.timeout_seconds} s"
            ) from None
        except (OSError, UnicodeError) as error:
            raise ImageFetchError(f"the image host {host!r} could not be resolved") from error
        finally:
            pool.shutdown(wait=False)
        if not addresses:
            raise ImageFetchError(f"the image host {host!r} could not be resolved")
        return addresses

    def _get(self, url: str, deadline: float) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in self._schemes:
            raise ImageFetchError(
                f"image URLs must use {' or '.join(self._schemes)}, not {scheme or 'nothing'!r}"
            )
        host = parts.hostname
        if not host:
            raise ImageFetchError("the image URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ImageFetchError("the image URL has an invalid port") from None
        address = self._address(host, port, deadline)
        timeout = self._left(deadline)
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
            connection = _PinnedHTTPSConnection(host, port, address, timeout, context)
        else:
            connection = _PinnedHTTPConnection(host, port, address, timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request("GET", path, headers={"Accept": "image/*", "User-Agent": "runs"})
            response = connection.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            if response.status in REDIRECTS or response.status != 200:
                return response.status, headers, b""
            return response.status, headers, self._read(response, headers, deadline, connection)
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline or isinstance(error, TimeoutError):
                raise ImageFetchError(
                    f"fetching the image took longer than {self.timeout_seconds} s"
                ) from None
            raise ImageFetchError(
                f"the image could not be fetched: {type(error).__name__}"
            ) from None
        finally:
            connection.close()

    def _read(
        self,
        response: http.client.HTTPResponse,
        headers: dict[str, str],
        deadline: float,
        connection: http.client.HTTPConnection,
    ) -> bytes:
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise ImageFetchError(self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            if connection.sock is not None:
                connection.sock.settimeout(self._left(deadline))
            chunk = response.read1(_READ_CHUNK) if hasattr(response, "read1") else b""
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise ImageFetchError(self._too_large())
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the image is larger than the limit of {self.max_bytes} bytes"

    @staticmethod
    def _image(headers: dict[str, str], body: bytes) -> FetchedImage:
        declared = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not declared.startswith("image/"):
            raise ImageFetchError(
                f"the image URL's content is not an image (Content-Type {declared or 'missing'!r})"
            )
        media_type = sniff_image_type(body)
        if media_type is None:
            raise ImageFetchError("the image is not a PNG, JPEG, GIF or WebP image")
        return FetchedImage(media_type, body)
