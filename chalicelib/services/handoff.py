"""Handing committed work to the worker: a side effect after the commit, never its condition.

By the time a job is sent, the request's writes are done: the run is stored `queued` (in the
`pending` index), or the thread is deleted. A failed SendMessage must not turn that into a 500,
because the client's retry would then meet its own first attempt ("already has an active run",
"do not accept tool outputs"). So the failure is logged and the request answers as it would
have; the sweeper re-sends a run queued longer than QUEUED_RESEND_AFTER_SECONDS.
"""

from __future__ import annotations

import json
import logging

from ..dispatch.base import Job
from .context import Services

log = logging.getLogger(__name__)


def hand_off(svc: Services, job: Job) -> bool:
    """Send `job`; False (logged, not raised) when the send failed."""
    try:
        svc.dispatcher.send(job)
    except Exception:
        log.exception("sending a job failed after its writes were committed: %s", json.dumps(job))
        return False
    return True
