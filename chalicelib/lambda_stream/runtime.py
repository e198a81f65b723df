"""The streaming function's runtime loop: Lambda's Runtime API with response streaming.

The managed Python runtime cannot stream a response, so this function's AWS_LAMBDA_EXEC_WRAPPER
(`bootstrap`, next to this file) runs this loop instead: take the next invocation (an API
Gateway proxy event), and answer it as a streamed HTTP integration response, which is a JSON
prelude (status and headers), eight NUL bytes, then the body as it is produced, each SSE frame
sent as one chunk of the chunked POST. Only the three POSTs that can stream are routed here;
when `stream` is not set, the Chalice app answers them as usual and its body is sent whole.

A client that leaves mid-stream makes the POST fail: the frames are then still drained, so the
run's turn finishes before Lambda freezes the environment.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

from ..api.streaming import StreamingResponse, open_stream
from ..wiring import get_services

log = logging.getLogger(__name__)
API_VERSION = "2018-06-01"
PRELUDE_DELIMITER = b"\x00" * 8
HTTP_INTEGRATION_RESPONSE = "application/vnd.awslambda.http-integration-response"


class LambdaContext:
    """What Chalice reads from a Lambda context."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "stream")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.invoked_function_arn = ""
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _request_of(event: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Method, path with query, header pairs and body of an API Gateway (REST) proxy event."""
    path = event.get("path") or "/"
    query = event.get("multiValueQueryStringParameters") or {}
    if query:
        from urllib.parse import urlencode

        path += "?" + urlencode([(k, v) for k, vs in query.items() for v in vs or []])
    multi = event.get("multiValueHeaders") or {}
    pairs = [(k, v) for k, vs in multi.items() for v in vs or []]
    if not pairs:
        pairs = list((event.get("headers") or {}).items())
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    return str(event.get("httpMethod") or "GET"), path, pairs, body


def respond(event: dict[str, Any], context: LambdaContext) -> StreamingResponse:
    """The response to one invocation: streamed if it asks to, else the Chalice app's."""
    method, path, headers, body = _request_of(event)
    streamed = open_stream(method, path, headers, body, get_services)
    if streamed is not None:
        return streamed
    from app import app  # the same Chalice app the API function runs

    answer = app(event, context)
    payload = answer.get("body") or ""
    data = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode()
    headers_out = dict(answer.get("headers") or {})
    return StreamingResponse(int(answer["statusCode"]), headers_out, iter([data]))


def _prelude(response: StreamingResponse) -> bytes:
    metadata = {"statusCode": response.status, "headers": response.headers}
    return json.dumps(metadata).encode() + PRELUDE_DELIMITER


class RuntimeClient:
    """The Runtime API at AWS_LAMBDA_RUNTIME_API (host:port)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.address, timeout=None)

    def next_invocation(self) -> tuple[str, int, dict[str, Any]]:
        connection = self._connection()
        connection.request("GET", f"/{API_VERSION}/runtime/invocation/next")
        answer = connection.getresponse()
        event = json.loads(answer.read())
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(answer.headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        connection.close()
        return request_id, deadline, event

    def stream_response(self, request_id: str, response: StreamingResponse) -> None:
        """POST the response in chunks; if the POST breaks, drain the rest (see module doc)."""
        connection = self._connection()
        connection.putrequest("POST", f"/{API_VERSION}/runtime/invocation/{request_id}/response")
        connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Type", HTTP_INTEGRATION_RESPONSE)
        connection.endheaders()
        writable = True
        for chunk in _with_prelude(response):
            if not writable or not chunk:
                continue
            try:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                writable = False
                log.info("the stream of invocation %s was cut; finishing the run", request_id)
        if writable:
            try:
                connection.send(b"0\r\n\r\n")
                connection.getresponse().read()
            except (OSError, http.client.HTTPException):
                log.info("the end of invocation %s's stream was not acknowledged", request_id)
        connection.close()

    def _post(self, path: str, error: BaseException) -> None:
        body = json.dumps(
            {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error),
            }
        ).encode()
        connection = self._connection()
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": "Unhandled",
        }
        connection.request("POST", path, body=body, headers=headers)
        connection.getresponse().read()
        connection.close()

    def invocation_error(self, request_id: str, error: BaseException) -> None:
        self._post(f"/{API_VERSION}/runtime/invocation/{request_id}/error", error)

    def init_error(self, error: BaseException) -> None:
        self._post(f"/{API_VERSION}/runtime/init/error", error)


def _with_prelude(response: StreamingResponse) -> Iterator[bytes]:
    yield _prelude(response)
    yield from response.chunks


def serve(client: RuntimeClient, invocations: int | None = None) -> None:
    """Answer invocations until told to stop (`invocations`, for tests) or forever."""
    served = 0
    while invocations is None or served < invocations:
        request_id, deadline, event = client.next_invocation()
        try:
            response = respond(event, LambdaContext(request_id, deadline))
        except Exception as error:  # the response never started: report it as Lambda expects
            log.exception("invocation %s failed", request_id)
            client.invocation_error(request_id, error)
        else:
            client.stream_response(request_id, response)
        served += 1


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
        import app  # noqa: F401 (fail at init, not on the first request)
    except Exception as error:
        client.init_error(error)
        raise
    serve(client)


if __name__ == "__main__":
    main()
