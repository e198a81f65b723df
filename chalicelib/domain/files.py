"""Files: the file object, the purposes and expiry an upload may ask for, and their errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ApiError, InvalidRequest
from .ids import is_valid_id, new_id

if TYPE_CHECKING:
    from .records import FileRecord

# What an upload may give as `purpose` (CreateFileRequest). The file object lists a few more
# that only OpenAI itself produced (assistants_output, batch_output, fine-tune-results).
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
EXPIRES_MIN_SECONDS = 3600  # 1 hour
EXPIRES_MAX_SECONDS = 2_592_000  # 30 days
# "By default, files with purpose=batch expire after 30 days" (FileExpirationAfter).
BATCH_EXPIRES_SECONDS = 2_592_000
MAX_FILENAME_CHARS = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def file_not_found(file_id: str) -> ApiError:
    """The hosted API's words for an unknown file (or another project's)."""
    return ApiError(f"No such File object: {file_id}", param="id", status=404)


def content_too_large(size: int, limit: int) -> ApiError:
    """A body or a file over the upload limit (FILE_MAX_BYTES): the hosted API's 413 words."""
    return ApiError(
        f"Maximum content size limit ({limit}) exceeded ({size} bytes read)", status=413
    )


def require_file_id(file_id: str) -> None:
    """A 404 for an id that is not a file id's shape, exactly as for an unknown one."""
    if not is_valid_id("file", file_id):
        raise file_not_found(file_id[:200])


def check_purpose(purpose: str | None) -> str:
    if purpose is None:
        raise InvalidRequest("'purpose' is a required property", param="purpose")
    if purpose not in PURPOSES:
        allowed = ", ".join(f"'{p}'" for p in PURPOSES)
        raise InvalidRequest(
            f"'{purpose[:100]}' is not one of [{allowed}] - 'purpose'", param="purpose"
        )
    return purpose


def check_filename(filename: str) -> str:
    if not filename.strip():
        raise InvalidRequest("Invalid 'file': the file has no name.", param="file")
    if len(filename) > MAX_FILENAME_CHARS:
        raise InvalidRequest(
            f"Invalid 'file': the file name is {len(filename)} characters long, over the limit "
            f"of {MAX_FILENAME_CHARS}.",
            param="file",
        )
    if not _is_utf8(filename):
        raise InvalidRequest("Invalid 'file': the file name is not valid Unicode.", param="file")
    return filename


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expires_at(purpose: str, expires_after: dict[str, Any] | None, created_at: int) -> int | None:
    """When a new file expires: as `expires_after` asks (anchor `created_at`, 1 hour to 30 days),
    else in 30 days for batch files, else never."""
    if expires_after is None:
        return created_at + BATCH_EXPIRES_SECONDS if purpose == "batch" else None
    anchor = expires_after.get("anchor")
    if anchor is None:
        raise InvalidRequest(
            "Missing required parameter: 'expires_after.anchor'.", param="expires_after.anchor"
        )
    if anchor != "created_at":
        raise InvalidRequest(
            f"Invalid value for 'expires_after.anchor': expected 'created_at', but got "
            f"'{str(anchor)[:100]}' instead.",
            param="expires_after.anchor",
        )
    seconds = expires_after.get("seconds")
    if seconds is None:
        raise InvalidRequest(
            "Missing required parameter: 'expires_after.seconds'.", param="expires_after.seconds"
        )
    if isinstance(seconds, str):
        try:
            seconds = int(seconds.strip())
        except ValueError:
            raise InvalidRequest(
                f"Invalid type for 'expires_after.seconds': expected an integer, but got "
                f"'{seconds[:100]}' instead.",
                param="expires_after.seconds",
            ) from None
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidRequest(
            "Invalid type for 'expires_after.seconds': expected an integer.",
            param="expires_after.seconds",
        )
    if not EXPIRES_MIN_SECONDS <= seconds <= EXPIRES_MAX_SECONDS:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected an integer between "
            f"{EXPIRES_MIN_SECONDS} and {EXPIRES_MAX_SECONDS}, but got {seconds} instead.",
            param="expires_after.seconds",
        )
    return created_at + seconds


def is_expired(file: dict[str, Any], now: int) -> bool:
    expiry = file.get("expires_at")
    return expiry is not None and expiry <= now


def new_file(
    *,
    filename: str,
    purpose: str,
    size: int,
    now: int,
    expires_at: int | None,
    content_type: str | None,
) -> FileRecord:
    """A file record without its blob key (the service adds it: it knows the project)."""
    return {
        "id": new_id("file"),
        "object": "file",
        "bytes": size,
        "created_at": now,
        "expires_at": expires_at,
        "filename": filename,
        "purpose": purpose,
        # Deprecated upstream but required; the hosted API answered "processed" once stored.
        "status": "processed",
        "status_details": None,
        "content_type": content_type or DEFAULT_CONTENT_TYPE,
    }


def deleted_file(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}
