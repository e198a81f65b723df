"""Validate API objects against OpenAI's published OpenAPI documents: Assistants v2, and Files
and Vector Stores.

The Assistants document lives at ``../shared/spec/openai-assistants.openapi.yaml`` relative to the
repo root (override with the ``OPENAI_SPEC_PATH`` environment variable); the Files and Vector
Stores one, ``openai-files-vector-stores.openapi.yaml``, beside it (override with
``OPENAI_FILES_SPEC_PATH``). ``validate_schema`` and ``validate_response`` look in the Assistants
document first and then in the other, so a caller names a schema or an operation, not a file;
``operations()`` lists the Assistants operations only, ``files_operations()`` the others. Before
validating, each document is rewritten to fix the quirks listed in ``shared/spec/README.md``:

* OpenAPI 3.0 ``nullable: true`` becomes a JSON Schema 2020-12 null branch (``type: [X, 'null']``,
  or ``anyOf: [<schema>, {type: 'null'}]`` beside ``$ref``/``allOf``/``oneOf``/``anyOf``);
  ``allOf: [{$ref: ...}, {nullable: true}]`` becomes ``anyOf: [{allOf: [{$ref: ...}]}, null]``.
* ``first_id``/``last_id`` of list responses accept ``null`` (an empty page).
* ``x-oaiMeta`` is dropped; ``format`` is not asserted (no format checker is used).
* ``OpenAIFile.expires_at`` and ``status_details`` accept ``null``: they are optional and not
  nullable as written, but the hosted API sent both as ``null`` when unset (the SDK's FileObject
  types them ``Optional``), and so do we (README, "Files").
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SpecViolation",
    "files_operations",
    "files_spec_document",
    "files_spec_path",
    "operations",
    "schema_names",
    "spec_document",
    "spec_path",
    "validate_response",
    "validate_schema",
    "validate_stream_event",
]

SPEC_URI = "urn:openai:assistants-v2:openapi"
_DEFAULT_SPEC = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "spec"
    / "openai-assistants.openapi.yaml"
)
FILES_SPEC_NAME = "openai-files-vector-stores.openapi.yaml"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keys whose values are data (not subschemas): never rewrite inside them.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "example", "examples"})
# Keys whose values map arbitrary names to subschemas/objects (a name like "default" or
# "example" there is not a keyword; e.g. the "default" entry of an operation's responses).
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "schemas", "responses"}
)
_COMPOSITION_KEYWORDS = ("$ref", "allOf", "oneOf", "anyOf")
_NULL: dict[str, Any] = {"type": "null"}
_MAX_INSTANCE_REPR = 300
_MAX_BRANCH_REASONS = 6


class SpecViolation(AssertionError):
    """An object does not conform to the OpenAI OpenAPI document."""


# --------------------------------------------------------------------------------------------
# Loading and rewriting
# --------------------------------------------------------------------------------------------


def spec_path() -> Path:
    """Path of the OpenAPI YAML (``OPENAI_SPEC_PATH`` overrides the default location)."""
    override = os.environ.get("OPENAI_SPEC_PATH")
    return Path(override).expanduser().resolve() if override else _DEFAULT_SPEC


def files_spec_path() -> Path:
    """Path of the Files and Vector Stores YAML: ``OPENAI_FILES_SPEC_PATH``, else beside the
    Assistants document (so one ``OPENAI_SPEC_PATH`` points a worktree at both)."""
    override = os.environ.get("OPENAI_FILES_SPEC_PATH")
    return (
        Path(override).expanduser().resolve() if override else spec_path().parent / FILES_SPEC_NAME
    )


def _paths() -> tuple[str, str]:
    """Both documents, in the order names are looked up."""
    return str(spec_path()), str(files_spec_path())


def _is_nullable_marker(node: object) -> bool:
    """True for an ``allOf`` member like ``{nullable: true}`` that carries no constraint."""
    return (
        isinstance(node, dict)
        and node.get("nullable") is True
        and not any(k in node for k in ("type", "enum", "const", *_COMPOSITION_KEYWORDS))
        and not any(k in node for k in ("properties", "items", "required"))
    )


def _rewrite(node: Any) -> Any:
    """Return a copy of a schema (or any document node) with 3.0 quirks turned into 3.1."""
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "x-oaiMeta":
            continue
        if key in _DATA_KEYWORDS:
            out[key] = copy.deepcopy(value)
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: _rewrite(sub) for name, sub in value.items()}
        else:
            out[key] = _rewrite(value)

    nullable = out.pop("nullable", None) is True

    # allOf: [{$ref: X}, {nullable: true}] -> the allOf without the marker, made nullable.
    all_of = out.get("allOf")
    if isinstance(all_of, list) and any(_is_nullable_marker(m) for m in node["allOf"]):
        kept = [
            m
            for m, orig in zip(all_of, node["allOf"], strict=True)
            if not _is_nullable_marker(orig)
        ]
        nullable = True
        if kept:
            out["allOf"] = kept
        else:
            del out["allOf"]

    if not nullable:
        return out
    return _make_nullable(out)


def _make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema and not any(k in schema for k in _COMPOSITION_KEYWORDS):
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "null" not in types:
            schema["type"] = [*types, "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        if "const" in schema:
            schema["enum"] = [schema.pop("const"), None]
        return schema
    if "type" in schema or any(k in schema for k in _COMPOSITION_KEYWORDS):
        return {"anyOf": [schema, dict(_NULL)]}
    # No constraint at all (only annotations): it already accepts null.
    return schema


def _nullable_list_ids(doc: dict[str, Any]) -> None:
    """Quirk 2: an empty page has no first/last id; let list responses carry null there."""
    for schema in doc.get("components", {}).get("schemas", {}).values():
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(props, dict) or "has_more" not in props:
            continue
        for key in ("first_id", "last_id"):
            if isinstance(props.get(key), dict):
                props[key]["nullable"] = True


# Optional, non-nullable fields the hosted API sent as null (schema -> fields).
_SENT_AS_NULL = {"OpenAIFile": ("expires_at", "status_details")}


def _nullable_as_sent(doc: dict[str, Any]) -> None:
    schemas = doc.get("components", {}).get("schemas", {})
    for name, fields in _SENT_AS_NULL.items():
        props = schemas.get(name, {}).get("properties", {})
        for key in fields:
            if isinstance(props.get(key), dict):
                props[key]["nullable"] = True


@functools.cache
def _load(path: str) -> tuple[dict[str, Any], Registry]:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict) or "components" not in raw:
        raise RuntimeError(f"{path} is not an OpenAPI document with components")
    _nullable_list_ids(raw)
    _nullable_as_sent(raw)
    doc = _rewrite(raw)
    resource = Resource(contents=doc, specification=DRAFT202012)
    registry: Registry = Registry().with_resource(SPEC_URI, resource)
    return doc, registry


def spec_document() -> dict[str, Any]:
    """The rewritten (3.1-clean) Assistants document. Cached; do not mutate."""
    return _load(str(spec_path()))[0]


def files_spec_document() -> dict[str, Any]:
    """The rewritten (3.1-clean) Files and Vector Stores document. Cached; do not mutate."""
    return _load(str(files_spec_path()))[0]


def _registry() -> Registry:
    return _load(str(spec_path()))[1]


def _document_with_schema(schema_name: str) -> str | None:
    for path in _paths():
        if schema_name in _load(path)[0]["components"]["schemas"]:
            return path
    return None


def _document_with_operation(method: str, path_template: str) -> str | None:
    for path in _paths():
        if isinstance(_load(path)[0].get("paths", {}).get(path_template, {}).get(method), dict):
            return path
    return None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _pointer(*segments: str) -> str:
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return "/" + "/".join(escaped)


@functools.cache
def _validator(pointer: str, path: str) -> Draft202012Validator:
    _, registry = _load(path)
    ref = f"{SPEC_URI}#{quote(pointer, safe='/~')}"
    return Draft202012Validator({"$ref": ref}, registry=registry)


def _short(instance: object) -> str:
    text = repr(instance)
    return text if len(text) <= _MAX_INSTANCE_REPR else text[:_MAX_INSTANCE_REPR] + "..."


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    """The innermost errors under an anyOf/oneOf failure, minus "is not of type 'null'"."""
    leaves: list[ValidationError] = []
    for sub in error.context or []:
        if sub.context:
            leaves.extend(_leaf_errors(sub))
        elif not (sub.validator == "type" and sub.validator_value == "null"):
            leaves.append(sub)
    return leaves


def _describe(error: ValidationError) -> str:
    line = f"{error.json_path}: {_short_message(error)}"
    seen: set[str] = set()
    for leaf in _leaf_errors(error):
        reason = f"{leaf.json_path}: {_short_message(leaf)}"
        if reason in seen:
            continue
        seen.add(reason)
        if len(seen) > _MAX_BRANCH_REASONS:
            line += "\n      ..."
            break
        line += f"\n      because {reason}"
    return line


def _short_message(error: ValidationError) -> str:
    message = error.message
    return message if len(message) <= _MAX_INSTANCE_REPR else message[:_MAX_INSTANCE_REPR] + "..."


def _errors_at(pointer: str, instance: object, path: str | None = None) -> list[str]:
    validator = _validator(pointer, path or str(spec_path()))
    errors: Iterable[ValidationError] = validator.iter_errors(instance)
    ordered = sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [_describe(e) for e in ordered]


def _raise_if(errors: list[str], what: str, instance: object) -> None:
    if errors:
        details = "\n".join(f"  - {e}" for e in errors)
        raise SpecViolation(
            f"{what}: {len(errors)} error(s)\n{details}\ninstance: {_short(instance)}"
        )


def schema_names() -> list[str]:
    """Names under ``#/components/schemas``, sorted."""
    return sorted(spec_document()["components"]["schemas"])


def _operations_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    ops: list[tuple[str, str]] = []
    for path, item in document.get("paths", {}).items():
        ops.extend((method, path) for method in item if method in _HTTP_METHODS)
    return sorted(ops, key=lambda op: (op[1], op[0]))


def operations() -> list[tuple[str, str]]:
    """Every Assistants ``(method, path_template)``, e.g. ``("post", "/threads/{id}/runs")``."""
    return _operations_of(spec_document())


def files_operations() -> list[tuple[str, str]]:
    """Every Files and Vector Stores ``(method, path_template)``, e.g. ``("post", "/files")``."""
    return _operations_of(files_spec_document())


def validate_schema(instance: object, schema_name: str) -> None:
    """Validate ``instance`` against ``#/components/schemas/<schema_name>`` of the first document
    that has it (Assistants, then Files and Vector Stores).

    Raises ``SpecViolation`` listing every error with its JSON path.
    """
    path = _document_with_schema(schema_name)
    if path is None:
        raise KeyError(f"no schema named {schema_name!r} in {spec_path()} or {files_spec_path()}")
    pointer = _pointer("components", "schemas", schema_name)
    _raise_if(_errors_at(pointer, instance, path), f"not a valid {schema_name}", instance)


def _resolve_local(
    node: dict[str, Any], doc: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """Follow a local ``$ref`` (e.g. to ``#/components/responses/...``); return node and pointer."""
    pointer = None
    doc = doc if doc is not None else spec_document()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"non-local $ref {ref!r} is not supported")
        pointer = ref[1:]
        target: Any = doc
        for seg in pointer[1:].split("/"):
            target = target[seg.replace("~1", "/").replace("~0", "~")]
        node = target
    return node, pointer


def validate_response(method: str, path_template: str, status: int, body: object) -> None:
    """Validate a JSON response body for the operation ``(method, path_template)`` and ``status``.

    For ``status >= 400`` the body must be an ``ErrorResponse`` whose ``error`` carries all of
    ``message``, ``type``, ``param`` and ``code``.
    """
    method = method.lower()
    path = _document_with_operation(method, path_template)
    if path is None:
        raise KeyError(
            f"no operation {method.upper()} {path_template} in {spec_path()} or {files_spec_path()}"
        )
    document = _load(path)[0]
    operation = document["paths"][path_template][method]
    what = f"{method.upper()} {path_template} -> {status}"

    if status >= 400:
        # Both documents define ErrorResponse; the Assistants one is the reference.
        errors = _errors_at(_pointer("components", "schemas", "ErrorResponse"), body)
        inner = body.get("error") if isinstance(body, dict) else None
        if isinstance(inner, dict):
            missing = [k for k in ("message", "type", "param", "code") if k not in inner]
            if missing:
                errors.append(f"$.error: missing key(s) {missing} (all four must be present)")
        _raise_if(errors, f"{what}: not a valid ErrorResponse", body)
        return

    responses: dict[str, Any] = operation.get("responses", {})
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        raise SpecViolation(f"{what}: status {status} is not documented (have {sorted(responses)})")
    response, response_pointer = _resolve_local(responses[key], document)
    if response_pointer is None:
        response_pointer = _pointer("paths", path_template, method, "responses", key)
    if "application/json" not in response.get("content", {}):
        raise SpecViolation(f"{what}: the spec documents no application/json body for {key}")
    pointer = response_pointer + _pointer("content", "application/json", "schema")
    _raise_if(_errors_at(pointer, body, path), what, body)


@functools.cache
def _stream_branches(path: str) -> dict[str, str]:
    """Map each stream event name to the JSON pointer of its ``data`` schema."""
    doc, _ = _load(path)
    schemas = doc["components"]["schemas"]
    branches: dict[str, str] = {}
    for family_ref in schemas["AssistantStreamEvent"]["oneOf"]:
        family_name = family_ref["$ref"].rsplit("/", 1)[-1]
        family = schemas[family_name]
        members = (
            [
                (_pointer("components", "schemas", family_name, "oneOf", str(i)), m)
                for i, m in enumerate(family["oneOf"])
            ]
            if "oneOf" in family
            else [(_pointer("components", "schemas", family_name), family)]
        )
        for pointer, member in members:
            for name in member["properties"]["event"]["enum"]:
                branches[name] = pointer + _pointer("properties", "data")
    return branches


def stream_event_names() -> list[str]:
    """Every SSE event name the ``AssistantStreamEvent`` family defines."""
    return sorted(_stream_branches(str(spec_path())))


def validate_stream_event(event: str, data: object) -> None:
    """Validate one SSE event: its name and its parsed JSON ``data`` (``"[DONE]"`` for ``done``)."""
    branches = _stream_branches(str(spec_path()))
    if event not in branches:
        raise SpecViolation(f"unknown stream event {event!r} (known: {sorted(branches)})")
    _raise_if(_errors_at(branches[event], data), f"event {event!r}: invalid data", data)
