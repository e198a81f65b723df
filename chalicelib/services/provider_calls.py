"""One model call, retried with backoff while the provider says asking again may work.

A throttled answer (429), a 5xx answer or a timeout is retried, waiting twice as long each time
(with jitter), for as long as the turn's retry budget lasts; then the last error stands and the
run ends `failed` with its code (`rate_limit_exceeded` or `server_error`). A call that already
streamed text or tool-call pieces to the client is never repeated: the client has seen them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from ..providers.base import ModelProvider, ModelRequest, ModelResponse, ProviderError
from .live_turn import LiveTurn

log = logging.getLogger(__name__)
MAX_DELAY_SECONDS = 8.0


def complete_with_retries(
    provider: ModelProvider,
    request: ModelRequest,
    live: LiveTurn,
    budget_seconds: float,
    first_delay_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> ModelResponse:
    give_up_at = monotonic() + budget_seconds
    delay = first_delay_seconds
    attempt = 1
    while True:
        try:
            return provider.complete(request, live)
        except ProviderError as error:
            pause = min(delay, MAX_DELAY_SECONDS) * random.uniform(0.5, 1.0)
            if not error.retryable or live.streamed or monotonic() + pause > give_up_at:
                if attempt > 1:
                    raise ProviderError(
                        f"{error} (after {attempt} attempts)", code=error.code
                    ) from None
                raise
            log.warning(
                "model call attempt %d failed (%s); retrying in %.2f s", attempt, error, pause
            )
            sleep(pause)
            delay *= 2
            attempt += 1
