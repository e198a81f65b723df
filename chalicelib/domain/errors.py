"""Errors a client sees, with the exact texts clients string-match (CONTRACT.md, Errors).

The API layer renders any ApiError as {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations


class ApiError(Exception):
    status: int = 400
    error_type: str = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.")


class Unauthorized(ApiError):
    status = 401


class ServerError(ApiError):
    status = 500
    error_type = "server_error"


def thread_not_found(thread_id: str) -> NotFound:
    return NotFound("thread", thread_id)


def run_not_found(run_id: str) -> NotFound:
    return NotFound("run", run_id)


def step_not_found(step_id: str) -> NotFound:
    return NotFound("step", step_id)


def message_not_found(message_id: str) -> NotFound:
    return NotFound("message", message_id)


def assistant_not_found(assistant_id: str) -> NotFound:
    return NotFound("assistant", assistant_id)


def cannot_cancel(status: str) -> InvalidRequest:
    return InvalidRequest(f"Cannot cancel run with status '{status}'.")


def no_tool_outputs(status: str) -> InvalidRequest:
    return InvalidRequest(f'Runs in status "{status}" do not accept tool outputs.')


def thread_has_active_run(thread_id: str, run_id: str) -> InvalidRequest:
    return InvalidRequest(f"Thread {thread_id} already has an active run {run_id}.")


def thread_locked_for_messages(thread_id: str, run_id: str) -> InvalidRequest:
    return InvalidRequest(f"Can't add messages to {thread_id} while a run {run_id} is active.")


BETA_MESSAGE = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. "
    "Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
)


def missing_beta_header() -> InvalidRequest:
    return InvalidRequest(BETA_MESSAGE, code="invalid_beta")


class ItemTooLarge(InvalidRequest):
    """An object that would not fit in one DynamoDB item (400 KB)."""


def conflicting_authorizations() -> Unauthorized:
    """Two different Authorization headers (API Gateway would keep only the last)."""
    return Unauthorized(
        "Multiple Authorization headers with different values: send exactly one "
        "(Authorization: Bearer YOUR_KEY).",
        code="invalid_api_key",
    )
