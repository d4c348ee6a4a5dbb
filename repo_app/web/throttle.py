"""Slowing down password guessing on the login page.

After :data:`LIMIT` failed sign-ins within :data:`WINDOW_S` for one username from one
client address, further attempts for that pair are refused until the window has
passed, right password or not. The pair, not the username alone, so that a guesser
cannot lock a teacher out from elsewhere; not the address alone, since a school or a
reverse proxy puts many people behind one. Counts live in the process (each server
worker counts alone), which is enough to turn an online guessing run from thousands of
tries a minute into a handful.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import current_app

LIMIT = 10
WINDOW_S = 15 * 60
#: Keys kept at most; the oldest are forgotten first (bounded memory under attack).
MAX_KEYS = 10_000


class FailedLogins:
    """Failed sign-ins per key (see :func:`login_key`) in a sliding window."""

    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked_for(self, *keys: str) -> float:
        """Seconds until any of *keys* may try again; 0 when none is blocked."""
        now = time.monotonic()
        with self._lock:
            waits = [
                times[0] + self.window_s - now
                for times in (self._recent(k, now) for k in keys)
                if len(times) >= self.limit
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures.pop(key, None)
                self._failures[key] = times  # most recent last
            while len(self._failures) > MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def login_key(username: str, address: str | None) -> str:
    return f"{username.strip().lower()}|{address or ''}"


def failed_logins() -> FailedLogins:
    """The counts of this application (made on first use)."""
    counts = current_app.extensions.setdefault("kejian_failed_logins", FailedLogins())
    return counts  # type: ignore[no-any-return]
