"""Who is calling: `Authorization: Bearer <key>` to a project. Keys are stored only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from ..domain.errors import Unauthorized
from ..domain.objects import Record
from .context import Services

_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,200}")
_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _redacted(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"


def project_for(svc: Services, authorization: str | None) -> str:
    """The project of the calling key; 401 for a missing, malformed or unknown key."""
    if not authorization:
        raise Unauthorized(_MISSING)
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized(_MISSING)
    if not _WELL_FORMED.fullmatch(key):
        raise Unauthorized(
            f"Incorrect API key provided: {_redacted(key[:200])}. API keys are 8 to 200 "
            "characters from A-Z, a-z, 0-9, '.', '_' and '-'.",
            code="invalid_api_key",
        )
    digest = hash_key(key)
    if svc.settings.is_local:
        return "local-" + digest[:24]  # every distinct key is its own project, no setup
    project = _lookup(svc, digest)
    if project is None:
        raise Unauthorized(f"Incorrect API key provided: {_redacted(key)}.", code="invalid_api_key")
    return project


def _lookup(svc: Services, digest: str) -> str | None:
    cached = svc.key_cache.get(digest)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    record = svc.store.get_api_key(digest)
    project = record["project"] if record else None
    svc.key_cache[digest] = (project, now + svc.settings.api_key_cache_seconds)
    return project


def create_api_key(svc: Services, project: str, name: str = "") -> tuple[str, Record]:
    """A new key for `project`: the key itself is shown once, only its hash is stored."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", project):
        raise ValueError("a project name is 1 to 64 characters from A-Z, a-z, 0-9, _ and -")
    key = "sk-" + secrets.token_urlsafe(32)
    digest = hash_key(key)
    record = {
        "project": project,
        "name": name,
        "key_hash": digest,
        "hint": _redacted(key),
        "created_at": svc.clock.now(),
    }
    svc.store.put_api_key(digest, record)
    return key, record


def list_api_keys(svc: Services, project: str) -> list[Record]:
    return svc.store.list_api_keys(project)


def revoke_api_key(svc: Services, project: str, key_hash: str) -> bool:
    svc.key_cache.pop(key_hash, None)
    return svc.store.delete_api_key(project, key_hash)
