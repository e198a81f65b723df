"""Pydantic validation errors as OpenAI's 400s, with `param` naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..domain.errors import InvalidRequest

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
