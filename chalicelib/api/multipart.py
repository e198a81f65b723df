"""multipart/form-data bodies (RFC 7578), parsed with the standard library only.

What uploads send: a boundary quoted or not in the Content-Type, parts with
`Content-Disposition: form-data; name=...; filename=...` (or `filename*=UTF-8''...`, RFC 5987),
an optional part Content-Type, and content that may hold any bytes, CRLF included. Bracketed
field names (`expires_after[anchor]`, as the SDK and curl's `-F` send nested values) become
nested dicts. Anything malformed is a 400 that says what is wrong, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..domain.errors import InvalidRequest

MAX_PARTS = 64
MAX_PART_HEADER_BYTES = 16 * 1024
CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a text field, not a file
    content_type: str | None
    data: bytes


@dataclass
class Form:
    """Text fields (bracketed names nested into dicts) and file parts, by name."""

    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Part] = field(default_factory=dict)


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid multipart/form-data body: {why}")


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """`type; a=1; b="x;y"` -> ("type", {"a": "1", "b": "x;y"}); names lower-cased.

    Quoted values may hold `;` and backslash escapes; `name*=charset'lang'pct-encoded` (RFC 5987)
    is decoded and stored under `name*`.
    """
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    main = pieces[0].strip().lower()
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, sep, raw = piece.partition("=")
        if not sep:
            continue
        name, raw = name.strip().lower(), raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = _unescape(raw[1:-1])
        if name.endswith("*"):
            raw = _extended(raw)
        params[name] = raw
    return main, params


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


def _extended(raw: str) -> str:
    """RFC 5987 `charset'language'percent-encoded` (UTF-8 or ISO-8859-1)."""
    charset, sep, rest = raw.partition("'")
    if not sep:
        return unquote(raw)
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset.strip() or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        raise _malformed(f"a parameter is not valid {charset[:20]}: {raw[:100]!r}") from None


def boundary_of(content_type: str) -> str:
    media, params = header_params(content_type)
    if media != "multipart/form-data":
        raise _malformed(f"expected Content-Type multipart/form-data, got '{media[:100]}'.")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise _malformed("the Content-Type names no boundary (or one over 70 characters).")
    return boundary


def _decode(raw: bytes) -> str:
    """Part headers are UTF-8 (what browsers and HTTP clients send); else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _part(head: bytes, data: bytes) -> Part:
    headers: dict[str, str] = {}
    for line in head.split(CRLF):
        name, sep, value = _decode(line).partition(":")
        if not sep:
            raise _malformed(f"a part header has no ':': {line[:100]!r}.")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise _malformed("a part has no Content-Disposition header.")
    kind, params = header_params(disposition)
    if kind != "form-data" or "name" not in params:
        raise _malformed("a part's Content-Disposition is not form-data with a name.")
    filename = params.get("filename*", params.get("filename"))
    return Part(params["name"], filename, headers.get("content-type"), data)


def parse_parts(body: bytes, content_type: str) -> list[Part]:
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    if body.startswith(delimiter):
        position = 0
    else:
        found = body.find(CRLF + delimiter)  # after a preamble
        if found < 0:
            raise _malformed("the boundary named in the Content-Type does not occur in it.")
        position = found + 2
    parts: list[Part] = []
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            return parts  # the closing delimiter; anything after it is an epilogue
        line_end = body.find(CRLF, position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise _malformed("a boundary line is not followed by a line break.")
        head_start = line_end + 2
        head_end = body.find(CRLF + CRLF, head_start, head_start + MAX_PART_HEADER_BYTES)
        if head_end < 0:
            raise _malformed("a part's headers do not end (or are over 16 KB).")
        content_start = head_end + 4
        following = body.find(CRLF + delimiter, content_start)
        if following < 0:
            raise _malformed("the body ends before its closing boundary.")
        parts.append(_part(body[head_start:head_end], body[content_start:following]))
        if len(parts) > MAX_PARTS:
            raise _malformed(f"more than {MAX_PARTS} parts.")
        position = following + 2


def parse_form(body: bytes, content_type: str) -> Form:
    """The form's fields and files. A repeated name is refused (it would be ambiguous)."""
    form = Form()
    seen: set[str] = set()
    for part in parse_parts(body, content_type):
        if part.name in seen:
            raise InvalidRequest(
                f"Invalid multipart/form-data body: the field '{part.name[:100]}' is given more "
                "than once.",
                param=part.name[:100],
            )
        seen.add(part.name)
        if part.filename is not None:
            form.files[part.name] = part
            continue
        try:
            text = part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"Invalid '{part.name[:100]}': the value is not valid UTF-8.", param=part.name[:100]
            ) from None
        _set_field(form.fields, part.name, text)
    return form


def _set_field(fields: dict[str, Any], name: str, value: str) -> None:
    """`a[b][c]` -> fields["a"]["b"]["c"] = value; a plain name is set as it is."""
    head, bracket, rest = name.partition("[")
    if not bracket or not rest.endswith("]") or not head:
        fields[name] = value
        return
    keys = [head, *rest[:-1].split("][")]
    target = fields
    for key in keys[:-1]:
        nested = target.setdefault(key, {})
        if not isinstance(nested, dict):
            raise InvalidRequest(
                f"Invalid '{key}': given both as a value and as an object.", param=key
            )
        target = nested
    if isinstance(target.get(keys[-1]), dict):
        raise InvalidRequest(
            f"Invalid '{keys[-1]}': given both as a value and as an object.", param=keys[-1]
        )
    target[keys[-1]] = value
