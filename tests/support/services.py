"""Put services of a test's (or a bench's) own in place of the ones the app would build."""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.services.context import Services


def set_services(services: Services | None) -> None:
    """The app uses `services` from now on; None: it builds its own again on next use."""
    wiring._services = services
