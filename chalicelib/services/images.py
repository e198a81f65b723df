"""A user message's image parts, as the model receives them: bytes fetched and checked.

`image_url` parts are fetched through the SSRF-safe ImageFetcher; `image_file` parts are read
from the Files API's storage in the run's project. Images are only built for providers that
read them (`accepts_images`): the echo model never causes a fetch.

An image that cannot be had (a URL that fails, a deleted file, bytes that are no image) ends
the run `failed` with `last_error.code` `invalid_prompt` (the one code of the spec's three that
says the input is at fault) and a message naming the part and the reason.
"""

from __future__ import annotations

from typing import Any

from ..domain import errors
from ..domain.objects import Record
from ..providers.base import ImagePart
from ..providers.image_fetch import ImageFetcher, ImageFetchError, sniff_image_type
from .context import Services


class InvalidImage(Exception):
    """An image part the model cannot be given; str() is the run's last_error message."""


def image_fetcher(svc: Services) -> ImageFetcher:
    """The fetcher for this process (tests put one reaching a local server on `svc`)."""
    if svc.image_fetcher is not None:
        return svc.image_fetcher
    settings = svc.settings
    return ImageFetcher(
        settings.image_max_bytes,
        settings.image_fetch_timeout_seconds,
        settings.image_fetch_max_redirects,
    )


def message_images(
    svc: Services, project: str, message: Record, cache: dict[str, ImagePart] | None = None
) -> tuple[ImagePart, ...]:
    """The images of a message's content, in order; `cache` (by URL / file id) spares a
    second fetch of the same image within one turn."""
    cache = {} if cache is None else cache
    images: list[ImagePart] = []
    for part in message.get("content") or []:
        kind = part.get("type")
        if kind not in ("image_url", "image_file"):
            continue
        inner: dict[str, Any] = part[kind]
        detail = inner.get("detail") or "auto"
        key = inner.get("url") if kind == "image_url" else inner.get("file_id")
        cache_key = f"{kind}:{key}"
        if cache_key not in cache:
            cache[cache_key] = (
                _from_url(svc, str(key)) if kind == "image_url" else _from_file(svc, project, key)
            )
        cached = cache[cache_key]
        images.append(ImagePart(cached.media_type, cached.data, detail))
    return tuple(images)


def _from_url(svc: Services, url: str) -> ImagePart:
    if url.startswith("data:"):
        return _from_data_url(svc, url)
    try:
        fetched = image_fetcher(svc).fetch(url)
    except ImageFetchError as error:
        raise InvalidImage(f"Invalid image_url '{url[:200]}': {error}.") from None
    return ImagePart(fetched.media_type, fetched.data)


def _from_data_url(svc: Services, url: str) -> ImagePart:
    """A `data:image/...;base64,` URL carries its bytes: nothing to fetch, the same checks."""
    import base64
    import binascii

    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise InvalidImage("Invalid image_url: a data URL must be base64-encoded.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage("Invalid image_url: the data URL is not valid base64.") from None
    return _checked(svc, data, "image_url (data URL)")


def _from_file(svc: Services, project: str, file_id: Any) -> ImagePart:
    from . import files  # the Files API's storage (only runs that show images load it)

    try:
        data = files.read_file_content(svc, project, str(file_id))
    except errors.ApiError as error:
        raise InvalidImage(f"Invalid image_file '{file_id}': {error.message}") from None
    return _checked(svc, data, f"image_file '{file_id}'")


def _checked(svc: Services, data: bytes, what: str) -> ImagePart:
    if len(data) > svc.settings.image_max_bytes:
        raise InvalidImage(
            f"Invalid {what}: the image is larger than the limit of "
            f"{svc.settings.image_max_bytes} bytes."
        )
    media_type = sniff_image_type(data)
    if media_type is None:
        raise InvalidImage(f"Invalid {what}: the file is not a PNG, JPEG, GIF or WebP image.")
    return ImagePart(media_type, data)
