"""Images reaching the model: the SSRF-safe fetch, the provider request shapes, runs that fail
clearly on a bad image, and echo ignoring them."""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from chalicelib.domain.requests import CreateAssistant, CreateRun, CreateThread
from chalicelib.providers.base import ChatMessage, ImagePart, ModelRequest
from chalicelib.providers.bedrock import BedrockProvider, converse_params
from chalicelib.providers.image_fetch import (
    ImageFetcher,
    ImageFetchError,
    is_public_address,
    system_resolve,
)
from chalicelib.providers.openai_compat import OpenAICompatibleProvider, chat_completions_body
from chalicelib.services import assistants, executor, runs, threads
from chalicelib.services.context import Services
from tests.support.bedrock_stream import EventStreamStubber, converse_stream_response, events_of
from tests.support.fake_chat import fake_chat

PROJECT = "proj_images"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 16


# --- address checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1",
        "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.251", "239.255.255.250",
        "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.8", "::1", "::", "fe80::1",
        "fd00::1", "fc12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "::ffff:169.254.169.254", "2002:7f00:1::", "2002:a9fe:a9fe::", "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fec0::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "host", ["0x7f.1", "2130706433", "127.1", "0177.0.0.1", "017700000001", "[::ffff:127.0.0.1]"]
)
def test_tricky_spellings_of_loopback_are_refused_by_the_default_fetcher(host: str) -> None:
    """libc reads these as 127.0.0.1; the check runs on what the name resolves to."""
    fetcher = ImageFetcher(1024, 2)
    with pytest.raises(ImageFetchError, match=r"not a public address|could not be resolved"):
        fetcher.fetch(f"https://{host}/x.png")
    if host != "017700000001":  # not every libc reads a bare octal number
        resolved = system_resolve(host.strip("[]"), 443)
        assert all(not is_public_address(ipaddress.ip_address(a)) for a in resolved)


def test_the_default_fetcher_refuses_plain_http_and_other_schemes() -> None:
    fetcher = ImageFetcher(1024, 2)
    for url in ("http://example.com/a.png", "file:///etc/passwd", "ftp://example.com/a.png"):
        with pytest.raises(ImageFetchError, match="must use https"):
            fetcher.fetch(url)


def test_a_name_with_any_private_answer_is_refused() -> None:
    """All answers must be public: one private address among them refuses the host."""
    fetcher = ImageFetcher(1024, 2, resolve=lambda host, port: ["8.8.8.8", "10.0.0.1"])
    with pytest.raises(ImageFetchError, match="not a public address"):
        fetcher.fetch("https://mixed.example/a.png")


# --- fetching through a local server ---------------------------------------------------------


class _Images(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path
        if path == "/a.png":
            self._send(200, PNG, "image/png")
        elif path == "/a.gif":
            self._send(200, GIF, "image/gif; charset=binary")
        elif path == "/big.png":
            self._send(200, PNG + b"\x00" * 5000, "image/png")
        elif path == "/big-unsized.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(PNG + b"\x00" * 5000)
            self.close_connection = True
        elif path == "/text":
            self._send(200, b"hello", "text/plain")
        elif path == "/lying.png":
            self._send(200, b"<html>not an image</html>", "image/png")
        elif path == "/slow.png":
            time.sleep(3)
            self._send(200, PNG, "image/png")
        elif path == "/drip.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/to-a":
            self._redirect("/a.png")
        elif path == "/to-private":
            self._redirect("http://private.test/a.png")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/missing.png":
            self._send(404, b"no", "text/plain")
        else:
            self._send(404, b"no", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def image_server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Resolver:
    """images.test is the local server; private.test a private address; counts lookups."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return {"images.test": ["127.0.0.1"], "private.test": ["10.0.0.7"]}.get(host, [])


def _only_the_test_server(address: Any) -> bool:
    """What tests allow besides public addresses: the local server's loopback, nothing else."""
    return str(address) == "127.0.0.1" or is_public_address(address)


def _fetcher(
    resolver: _Resolver, max_bytes: int = 1024, timeout: float = 2.0, redirects: int = 3
) -> ImageFetcher:
    return ImageFetcher(
        max_bytes,
        timeout,
        redirects,
        resolve=resolver,
        allow_address=_only_the_test_server,
        schemes=("http", "https"),
    )


def test_an_image_is_fetched_with_its_type_from_its_bytes(image_server: int) -> None:
    resolver = _Resolver()
    image = _fetcher(resolver).fetch(f"http://images.test:{image_server}/a.png")
    assert image.media_type == "image/png" and image.data == PNG
    assert resolver.lookups == ["images.test"]  # resolved once, connected to that answer
    gif = _fetcher(resolver).fetch(f"http://images.test:{image_server}/a.gif")
    assert gif.media_type == "image/gif"


def test_a_redirect_is_followed_and_each_hop_is_checked(image_server: int) -> None:
    resolver = _Resolver()
    image = _fetcher(resolver).fetch(f"http://images.test:{image_server}/to-a")
    assert image.data == PNG and resolver.lookups == ["images.test", "images.test"]
    with pytest.raises(ImageFetchError, match="not a public address"):
        _fetcher(_Resolver()).fetch(f"http://images.test:{image_server}/to-private")
    with pytest.raises(ImageFetchError, match="not a public address"):
        _fetcher(_Resolver()).fetch(f"http://images.test:{image_server}/to-metadata")


def test_too_many_redirects_fail(image_server: int) -> None:
    with pytest.raises(ImageFetchError, match="redirected more than 2 times"):
        _fetcher(_Resolver(), redirects=2).fetch(f"http://images.test:{image_server}/loop")


@pytest.mark.parametrize("path", ["/big.png", "/big-unsized.png"])
def test_an_image_over_the_size_limit_fails(image_server: int, path: str) -> None:
    with pytest.raises(ImageFetchError, match="larger than the limit of 1024 bytes"):
        _fetcher(_Resolver()).fetch(f"http://images.test:{image_server}{path}")


@pytest.mark.parametrize("path", ["/slow.png", "/drip.png"])
def test_the_whole_fetch_has_one_deadline(image_server: int, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"took longer than 0\.5 s"):
        _fetcher(_Resolver(), max_bytes=10_000, timeout=0.5).fetch(
            f"http://images.test:{image_server}{path}"
        )
    assert time.monotonic() - started < 2.5


def test_a_hanging_resolver_is_cut_by_the_deadline() -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["8.8.8.8"]

    fetcher = ImageFetcher(1024, 0.3, resolve=slow)
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match="took longer"):
        fetcher.fetch("https://slow-dns.example/a.png")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/text", "not an image"),
        ("/lying.png", "not a PNG, JPEG, GIF or WebP"),
        ("/missing.png", "HTTP 404"),
    ],
)
def test_what_is_not_an_image_fails(image_server: int, path: str, message: str) -> None:
    with pytest.raises(ImageFetchError, match=message):
        _fetcher(_Resolver()).fetch(f"http://images.test:{image_server}{path}")


def test_the_local_server_itself_is_refused_without_the_test_hook(image_server: int) -> None:
    fetcher = ImageFetcher(1024, 2, schemes=("http", "https"))
    with pytest.raises(ImageFetchError, match="not a public address"):
        fetcher.fetch(f"http://127.0.0.1:{image_server}/a.png")
    with pytest.raises(ImageFetchError, match="not a public address"):
        fetcher.fetch(f"http://localhost:{image_server}/a.png")


# --- provider request shapes -----------------------------------------------------------------


def _image_request() -> ModelRequest:
    return ModelRequest(
        model="m",
        instructions="",
        messages=(
            ChatMessage(
                "user",
                "What is in the picture?",
                images=(ImagePart("image/png", PNG, "low"), ImagePart("image/gif", GIF)),
            ),
        ),
    )


def test_chat_completions_sends_image_parts_as_data_urls_with_detail() -> None:
    body = chat_completions_body(_image_request())
    (message,) = body["messages"]
    png_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert message == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in the picture?"},
            {"type": "image_url", "image_url": {"url": png_url, "detail": "low"}},
            {
                "type": "image_url",
                "image_url": {
                    "url": "data:image/gif;base64," + base64.b64encode(GIF).decode(),
                    "detail": "auto",
                },
            },
        ],
    }


def test_bedrock_sends_image_blocks_with_the_bytes() -> None:
    params, _ = converse_params(_image_request())
    assert params["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "What is in the picture?"},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
                {"image": {"format": "gif", "source": {"bytes": GIF}}},
            ],
        }
    ]


def test_bedrock_converse_stream_accepts_the_image_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's own validation of the request (Stubber checks it against the model)."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    reply = {
        "output": {"message": {"role": "assistant", "content": [{"text": "A square."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 90, "outputTokens": 2, "totalTokens": 92},
        "metrics": {"latencyMs": 10},
    }
    expected, _ = converse_params(_image_request())
    with EventStreamStubber(client) as stub:
        stub.add_response(
            "converse_stream", converse_stream_response(client, events_of(reply)), expected
        )
        response = BedrockProvider(client=client).complete(_image_request())
        stub.assert_no_pending_responses()
    assert response.text == "A square."


# --- runs ----------------------------------------------------------------------------------


def _run_with_content(svc: Services, content: list[dict[str, Any]]) -> dict[str, Any]:
    assistant = assistants.create_assistant(svc, PROJECT, CreateAssistant(model="m"))
    thread = threads.create_thread(
        svc,
        PROJECT,
        CreateThread.model_validate({"messages": [{"role": "user", "content": content}]}),
    )
    request = CreateRun.model_validate({"assistant_id": assistant["id"]})
    run = runs.create_run(svc, PROJECT, thread["id"], request, dispatch=False)
    done = executor.advance_run(svc, PROJECT, thread["id"], run["id"])
    assert done is not None
    return done


@pytest.fixture
def chat_svc(svc: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Any]]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_chat() as chat:
        svc.provider = OpenAICompatibleProvider(chat.base_url)
        yield svc, chat


def test_an_image_url_reaches_a_chat_completions_model(
    chat_svc: tuple[Services, Any], image_server: int
) -> None:
    svc, chat = chat_svc
    svc.image_fetcher = _fetcher(_Resolver())
    url = f"http://images.test:{image_server}/a.png"
    run = _run_with_content(
        svc,
        [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        ],
    )
    assert run["status"] == "completed", run["last_error"]
    (body,) = chat.bodies
    content = body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "Describe"}
    assert content[1]["image_url"] == {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "detail": "high",
    }


@pytest.mark.parametrize("svc", ["sqlite", "moto"], indirect=True)
def test_a_failing_image_fails_the_run_clearly(
    chat_svc: tuple[Services, Any], image_server: int
) -> None:
    svc, chat = chat_svc
    svc.image_fetcher = _fetcher(_Resolver())
    url = f"http://images.test:{image_server}/to-private"
    run = _run_with_content(svc, [{"type": "image_url", "image_url": {"url": url}}])
    assert run["status"] == "failed"
    assert run["last_error"]["code"] == "invalid_prompt"
    assert run["last_error"]["message"].startswith(f"Invalid image_url '{url}': ")
    assert "not a public address" in run["last_error"]["message"]
    assert chat.bodies == []  # the model was never asked
    thread = svc.store.get_thread(PROJECT, run["thread_id"])
    assert thread is not None and not thread.get("active_run_id")


def test_the_production_fetcher_refuses_a_loopback_image_url(
    chat_svc: tuple[Services, Any], image_server: int
) -> None:
    svc, _ = chat_svc
    url = f"https://127.0.0.1:{image_server}/a.png"
    run = _run_with_content(svc, [{"type": "image_url", "image_url": {"url": url}}])
    assert run["status"] == "failed" and "not a public address" in run["last_error"]["message"]


def test_a_data_url_image_needs_no_fetch(chat_svc: tuple[Services, Any]) -> None:
    svc, chat = chat_svc
    url = "data:image/gif;base64," + base64.b64encode(GIF).decode()
    run = _run_with_content(svc, [{"type": "image_url", "image_url": {"url": url}}])
    assert run["status"] == "completed"
    assert chat.bodies[0]["messages"][-1]["content"][0]["image_url"]["url"] == url


def test_echo_ignores_images_and_fetches_nothing(svc: Services) -> None:
    class Refusing:
        def fetch(self, url: str) -> Any:
            raise AssertionError("echo must not fetch images")

    svc.image_fetcher = Refusing()
    run = _run_with_content(
        svc,
        [
            {"type": "text", "text": "hello"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    )
    assert run["status"] == "completed"
    page = svc.store.thread_messages(PROJECT, run["thread_id"])
    assert page[-1]["content"][0]["text"]["value"] == "hello"


def test_an_image_file_reaches_the_model_from_the_files_api(chat_svc: tuple[Services, Any]) -> None:
    from chalicelib.services import files

    svc, chat = chat_svc
    image = files.create_file(svc, PROJECT, "pic.png", "vision", PNG, "image/png")
    part = {"type": "image_file", "image_file": {"file_id": image["id"], "detail": "low"}}
    run = _run_with_content(svc, [{"type": "text", "text": "What?"}, part])
    assert run["status"] == "completed", run["last_error"]
    sent = chat.bodies[0]["messages"][-1]["content"][1]
    assert sent["image_url"] == {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "detail": "low",
    }


def test_an_image_file_that_is_no_image_fails_the_run(chat_svc: tuple[Services, Any]) -> None:
    from chalicelib.services import files

    svc, chat = chat_svc
    text = files.create_file(svc, PROJECT, "notes.txt", "assistants", b"hello", "text/plain")
    part = {"type": "image_file", "image_file": {"file_id": text["id"]}}
    run = _run_with_content(svc, [part])
    assert run["status"] == "failed" and run["last_error"] == {
        "code": "invalid_prompt",
        "message": f"Invalid image_file '{text['id']}': the file is not a PNG, JPEG, GIF or "
        "WebP image.",
    }
    assert chat.bodies == []


def test_a_deleted_image_file_fails_the_run(chat_svc: tuple[Services, Any]) -> None:
    from chalicelib.services import files

    svc, _ = chat_svc
    image = files.create_file(svc, PROJECT, "pic.png", "vision", PNG, "image/png")
    part = {"type": "image_file", "image_file": {"file_id": image["id"]}}
    assistant = assistants.create_assistant(svc, PROJECT, CreateAssistant(model="m"))
    body = {"messages": [{"role": "user", "content": [part]}]}
    thread = threads.create_thread(svc, PROJECT, CreateThread.model_validate(body))
    files.delete_file(svc, PROJECT, image["id"])
    request = CreateRun.model_validate({"assistant_id": assistant["id"]})
    run = runs.create_run(svc, PROJECT, thread["id"], request, dispatch=False)
    done = executor.advance_run(svc, PROJECT, thread["id"], run["id"])
    assert done is not None and done["status"] == "failed"
    assert done["last_error"]["message"] == (
        f"Invalid image_file '{image['id']}': No such File object: {image['id']}"
    )


@pytest.fixture
def tls_image_server(tmp_path: Any) -> Iterator[tuple[int, Any]]:
    """An HTTPS image server with a self-signed certificate for images.test (openssl CLI)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=images.test", "-addext", "subjectAltName=DNS:images.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert))
    try:
        yield int(httpd.server_address[1]), client_context
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_connects_to_the_checked_address_and_verifies_the_name(
    tls_image_server: tuple[int, Any],
) -> None:
    """The production path: https only, the pinned address, SNI and the certificate checked
    against the URL's name (not the address)."""
    port, context = tls_image_server

    def fetcher(names: dict[str, list[str]]) -> ImageFetcher:
        return ImageFetcher(
            1024,
            2,
            resolve=lambda host, _port: names.get(host, []),
            allow_address=_only_the_test_server,
            ssl_context=context,
        )

    image = fetcher({"images.test": ["127.0.0.1"]}).fetch(f"https://images.test:{port}/a.png")
    assert image.data == PNG
    # the same server under another name: the certificate does not match it
    with pytest.raises(ImageFetchError, match="could not be fetched"):
        fetcher({"other.test": ["127.0.0.1"]}).fetch(f"https://other.test:{port}/a.png")
