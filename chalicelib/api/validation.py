"""Pydantic validation errors as OpenAI's 400s, with `param` naming the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.errors import InvalidRequest

if TYPE_CHECKING:
    from pydantic import ValidationError

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "list_type": "an array",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
_JSON_TYPES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    dict: "an object",
    list: "an array",
    type(None): "null",
}


def _param(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _got(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "a value")


def validation_error(error: ValidationError) -> InvalidRequest:
    """The first problem of a body, as the hosted API would phrase it."""
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    ctx = first.get("ctx") or {}
    param = ctx.get("param") or _param(tuple(first["loc"]))
    if kind == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if kind == "extra_forbidden":
        return InvalidRequest(f"Unrecognized request argument supplied: {param}", param=param)
    if kind in _EXPECTED:
        return InvalidRequest(
            f"Invalid type for '{param}': expected {_EXPECTED[kind]}, but got "
            f"{_got(first.get('input'))} instead.",
            param=param,
        )
    if kind == "invalid_value":
        return InvalidRequest(first["msg"], param=param)
    return InvalidRequest(f"Invalid '{param}': {first['msg']}.", param=param)


# What one DynamoDB item can hold (a body's values are stored as they are): attribute values
# nest at most 32 levels, a number has at most 38 digits and a magnitude of 1E-130 to
# 9.99...E+125 (or is 0), and a string is UTF-8 (JSON's "\ud800" escape, a lone surrogate,
# has no UTF-8 form). Anything beyond would fail in the store as a 500; it is a 400 here.
MAX_JSON_DEPTH = 32
_MAX_INTEGER = 10**38 - 1
_MIN_MAGNITUDE = 1e-130
_MAX_MAGNITUDE = 1e126


def storable_json_error(data: Any) -> InvalidRequest | None:
    """The first value of a parsed body that could not be stored, as a 400 (None if all can)."""
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(data, (), 1)]
    while stack:
        value, loc, depth = stack.pop()
        param = _param(loc) or None
        if isinstance(value, str):
            if not _is_utf8(value):
                return _not_unicode(f"Invalid '{param}': the string", param)
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if abs(value) > _MAX_INTEGER:
                return InvalidRequest(
                    f"Invalid '{param}': integer too large. Expected at most 38 digits, but got "
                    f"{len(str(abs(value)))} digits instead.",
                    param=param,
                )
        elif isinstance(value, float):
            if value != 0 and not _MIN_MAGNITUDE <= abs(value) < _MAX_MAGNITUDE:
                return InvalidRequest(
                    f"Invalid '{param}': number {value!r} is out of range. Expected 0 or a "
                    "magnitude between 1e-130 and 9.99e+125.",
                    param=param,
                )
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return InvalidRequest(
                    f"Invalid '{param}': nested too deeply. Expected objects and arrays nested "
                    f"at most {MAX_JSON_DEPTH} levels deep.",
                    param=param,
                )
            if isinstance(value, dict) and not all(_is_utf8(key) for key in value):
                where = f"Invalid '{param}'" if param else "Invalid request body"
                return _not_unicode(f"{where}: a key", param)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((item, (*loc, key), depth + 1) for key, item in items)
    return None


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_unicode(what: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(
        f"{what} is not valid Unicode: it contains a lone surrogate (such as an unpaired "
        "'\\ud800' escape), which has no UTF-8 encoding.",
        param=param,
    )
