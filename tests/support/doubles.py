"""Test doubles for the services: a clock moved by hand, a dispatcher that only records jobs."""

from __future__ import annotations

from chalicelib.dispatch.base import Job


class ManualClock:
    """A clock the tests set and advance by hand."""

    def __init__(self, start: int = 1_800_000_000) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> None:
        self._now += seconds

    def set(self, value: int) -> None:
        self._now = value


class RecordingDispatcher:
    """Keeps jobs in a list: for tests that deliver them by hand (or twice)."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def send(self, job: Job) -> None:
        self.jobs.append(job)

    def take(self) -> list[Job]:
        jobs, self.jobs = self.jobs, []
        return jobs
