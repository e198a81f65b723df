"""ConverseStream responses for a botocore Stubber, as real AWS event-stream bytes.

Each event is encoded in the binary event-stream framing (prelude, headers, payload, CRCs) and
read back by botocore's own EventStream and event parser, so the provider is tested against
what botocore hands it from the wire, not against hand-made dicts.
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Iterator
from typing import Any

from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from botocore.stub import Stubber


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + b"\x07"  # string
        + struct.pack("!H", len(raw_value))
        + raw_value
    )


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, json.dumps(payload).encode())


def exception(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())


def events_of(reply: dict[str, Any], pieces: int = 3) -> list[bytes]:
    """The ConverseStream events a Converse `reply` would have streamed, text and toolUse input
    cut into `pieces` deltas each."""

    def cut(text: str) -> list[str]:
        size = max(1, -(-len(text) // pieces))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    out = [event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(reply["output"]["message"]["content"]):
        if "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            out.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            for piece in cut(json.dumps(use.get("input") or {}, separators=(",", ":"))):
                delta = {"toolUse": {"input": piece}}
                out.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        else:
            for piece in cut(block["text"]):
                delta = {"text": piece}
                out.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        out.append(event("contentBlockStop", {"contentBlockIndex": index}))
    out.append(event("messageStop", {"stopReason": reply["stopReason"]}))
    metadata = {"usage": reply["usage"], "metrics": reply.get("metrics", {"latencyMs": 1})}
    out.append(event("metadata", metadata))
    return out


class _RawStream:
    """What EventStream reads from: an HTTP body's `.stream()` of byte chunks."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), 7):  # odd chunk sizes: frames split anywhere
            yield self.data[start : start + 7]

    def close(self) -> None:
        return None


def converse_stream_response(client: Any, messages: list[bytes]) -> dict[str, Any]:
    """A `converse_stream` response for Stubber.add_response, its stream parsed by botocore."""
    operation = client.meta.service_model.operation_model("ConverseStream")
    shape = operation.output_shape.members["stream"]
    stream = EventStream(
        _RawStream(b"".join(messages)), shape, EventStreamJSONParser(), "ConverseStream"
    )
    return {"stream": stream}


class EventStreamStubber(Stubber):
    """A Stubber that accepts a parsed EventStream as a response member.

    Stubber validates a response against the output shape, whose event-stream member it expects
    as a dict (botocore's stubs predate event streams); every other member is still checked.
    """

    def _validate_response(self, shape: Any, response: Any) -> None:
        if shape is not None:
            streams = {
                name
                for name, member in shape.members.items()
                if getattr(member, "serialization", {}).get("eventstream")
            }
            response = {k: v for k, v in response.items() if k not in streams}
        super()._validate_response(shape, response)
