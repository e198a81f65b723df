"""Routes: the inspector, a static page that reads threads and runs through the public API.

The page is not part of the API: it needs no key to load (it asks for one and sends it with
every /v1 call it makes, so it sees exactly what that key may see). Its files are read from
chalicelib/inspector/ on the first request for them, never at import: an API request's cold
start pays nothing for the page.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Chalice, Response

from ..domain.errors import ApiError
from .router import ALL_METHODS, error_response

ASSETS_DIR = Path(__file__).resolve().parents[1] / "inspector"
# The only files served, with their types: a request cannot name any other file.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page runs its own script and style and calls only its own origin's API. Images in
# messages (image_url parts) may live anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def read_asset(name: str) -> str:
    return (ASSETS_DIR / name).read_text(encoding="utf-8")


def asset_response(app: Chalice, name: str) -> Response:
    request = app.current_request
    path = request.context.get("path", request.path)
    if request.method != "GET":
        return error_response(
            ApiError(f"Invalid method for URL ({request.method} {path}). Allowed: GET.", status=405)
        )
    if name not in ASSETS:
        return error_response(ApiError(f"Invalid URL ({request.method} {path})", status=404))
    return Response(
        body=read_asset(name),
        status_code=200,
        headers={
            "Content-Type": ASSETS[name],
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def register(app: Chalice) -> None:
    """The page at / and /inspector, its script and style at /inspector/<file>."""

    def page() -> Response:
        return asset_response(app, "index.html")

    def asset(name: str) -> Response:
        return asset_response(app, name)

    for path, name in (("/", "inspector_root"), ("/inspector", "inspector_page")):
        app.route(path, methods=ALL_METHODS, content_types=["*/*"], name=name)(page)
    app.route("/inspector/{name}", methods=ALL_METHODS, content_types=["*/*"], name="inspector")(
        asset
    )
