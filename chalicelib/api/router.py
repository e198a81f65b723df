"""Routing, request parsing and error rendering: every response an OpenAI-shaped one.

Each path is registered with Chalice once, for every method and any content type, and dispatched
here. That way a wrong method, a wrong content type, bad JSON or an unexpected exception is
answered by us in the OpenAI error shape, never by the framework in its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Chalice, Response

from ..domain.errors import (
    ApiError,
    InvalidRequest,
    ServerError,
    conflicting_authorizations,
    missing_beta_header,
)
from ..services.auth import project_for
from ..services.context import Services
from .validation import storable_json_error, validation_error

if TYPE_CHECKING:  # pydantic loads with the first body parsed, not with `import app`
    from pydantic import BaseModel

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound="BaseModel")
Handler = Callable[..., Any]
ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON. If you have trouble figuring out how to fix this, please contact us through "
    "our help center at help.openai.com.)"
)


@dataclass
class ApiRequest:
    """What a handler gets: the caller's project, the services, and the parsed request."""

    svc: Services
    project: str
    query: dict[str, str]
    multi_query: dict[str, list[str]]
    raw_body: bytes
    # The request's headers (lower-case names): for the routes that read more than JSON.
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self, model: type[Model]) -> Model:
        """The JSON body validated as `model`; an absent body is an empty object."""
        data: Any = {}
        if self.raw_body.strip():
            try:
                data = json.loads(self.raw_body.decode("utf-8"), parse_constant=_no_constant)
            except (ValueError, RecursionError):  # incl. bad UTF-8, NaN, absurdly deep nesting
                raise InvalidRequest(_BAD_JSON) from None
        if not isinstance(data, dict):
            raise InvalidRequest(
                "Invalid body: expected a JSON object, but got "
                f"{type(data).__name__.replace('NoneType', 'null')} instead."
            )
        unstorable = storable_json_error(data)
        if unstorable is not None:
            raise unstorable
        from pydantic import ValidationError

        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise validation_error(error) from None

    def query_list(self, name: str) -> list[str]:
        return self.multi_query.get(name, [])


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are not JSON (Python's parser would accept them)."""
    raise ValueError(f"{name} is not valid JSON")


def _authorization(request: Any) -> str | None:
    """The Authorization header; two different ones are a 401.

    API Gateway keeps only the last of repeated headers in `headers` (all of them are in
    `multiValueHeaders`); an HTTP stack that merges them joins them with commas (RFC 9110),
    and a comma is in no well-formed key. Either way a smuggled second key decides nothing.
    """
    event = request.to_original_event()
    multi = event.get("multiValueHeaders") or {}
    values = {v for k, vs in multi.items() if k.lower() == "authorization" for v in vs or []}
    value: str | None = request.headers.get("authorization")
    # Two different headers, or two merged into one by a proxy ("Bearer a, Bearer b").
    if len(values) > 1 or (value is not None and "," in value):
        raise conflicting_authorizations()
    return value


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status)


@dataclass(frozen=True)
class RouteOptions:
    """What a route asks of a request besides a key.

    `beta`: the `OpenAI-Beta: assistants=v2` header (the Assistants API's routes; the SDK does
    not send it to /v1/files). `multipart`: the body is multipart/form-data (an upload), up to
    FILE_MAX_BYTES plus the form's own bytes, instead of JSON up to MAX_BODY_BYTES.
    """

    beta: bool = True
    multipart: bool = False


DEFAULT_OPTIONS = RouteOptions()
# What a multipart body may add to the file it carries: boundaries, part headers, small fields.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class Router:
    """Collects handlers by (method, path) and registers one Chalice view per path."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Handler]] = {}
        self.options: dict[tuple[str, str], RouteOptions] = {}

    def route(
        self, method: str, path: str, *, beta: bool = True, multipart: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.paths.setdefault(path, {})[method] = handler
            self.options[(path, method)] = RouteOptions(beta=beta, multipart=multipart)
            return handler

        return register

    def register(self, app: Chalice, services: Callable[[], Services]) -> None:
        for path, handlers in self.paths.items():
            options = {m: self.options[(path, m)] for m in handlers}
            view = _view(app, handlers, services, options)
            name = "api_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
            app.route(path, methods=ALL_METHODS, content_types=["*/*"], name=name)(view)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def is_multipart(content_type: str) -> bool:
    return _media_type(content_type) == "multipart/form-data"


def admit(
    svc: Services, request: Any, raw_body: bytes, options: RouteOptions = DEFAULT_OPTIONS
) -> str:
    """The checks every request passes, in the hosted API's order; returns the caller's project."""
    if options.multipart:
        limit = svc.settings.file_max_bytes + MULTIPART_OVERHEAD_BYTES
        if len(raw_body) > limit:
            from ..domain.files import content_too_large

            raise content_too_large(len(raw_body), svc.settings.file_max_bytes)
    elif len(raw_body) > svc.settings.max_body_bytes:
        raise ApiError(
            f"Request body too large: {len(raw_body)} bytes, over the limit of "
            f"{svc.settings.max_body_bytes} bytes.",
            status=413,
        )
    project = project_for(svc, _authorization(request))
    if options.beta and "assistants=v2" not in request.headers.get("openai-beta", ""):
        raise missing_beta_header()
    content_type = request.headers.get("content-type", "")
    if options.multipart:
        if raw_body.strip() and not is_multipart(content_type):
            raise ApiError(
                f"Unsupported content type '{content_type[:100]}': upload the file as "
                "'Content-Type: multipart/form-data' with the fields 'file' and 'purpose'.",
                status=415,
            )
    elif raw_body.strip() and not _is_json(content_type):
        raise ApiError(
            f"Unsupported content type '{content_type[:100]}': send a JSON body with "
            "'Content-Type: application/json'.",
            status=415,
        )
    return project


def _view(
    app: Chalice,
    handlers: dict[str, Handler],
    services: Callable[[], Services],
    options: dict[str, RouteOptions],
) -> Handler:
    def view(**params: str) -> Response:
        request = app.current_request
        try:
            handler = handlers.get(request.method)
            if handler is None:
                raise ApiError(
                    f"Invalid method for URL ({request.method} {request.context.get('path', '')})."
                    f" Allowed: {', '.join(sorted(handlers))}.",
                    status=405,
                )
            svc = services()
            raw_body = request.raw_body or b""
            project = admit(svc, request, raw_body, options[request.method])
            query = dict(request.query_params or {})
            multi = {k: request.query_params.getlist(k) for k in query} if query else {}
            headers = {k.lower(): v for k, v in request.headers.items()}
            api_request = ApiRequest(svc, project, query, multi, raw_body, headers)
            result = handler(api_request, **params)
            return result if isinstance(result, Response) else json_response(result)
        except ApiError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(
                ServerError("The server had an error while processing your request.")
            )

    return view
