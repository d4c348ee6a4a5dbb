"""The state one extraction carries through the format readers.

Format readers (:mod:`~indexer.extract.pdf`, :mod:`~indexer.extract.office`, ...) all
take a :class:`Source` and a :class:`Job`. The job holds the result being filled, the
limits, the deadline and the text collected so far, so each reader only has to ask
"is there time left?" between pages or entries and stop when the text is full. Files
inside a package are read with a child job that shares the parent's clock and text.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.extract.core import Extraction, Limits

__all__ = ["Job", "Source", "TextSink"]


@dataclass(frozen=True)
class Source:
    """File content to read: a path on disk, or bytes already in memory."""

    #: Name the uploader gave, used only for its extension and in messages.
    name: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)

        assert self.path is not None
        return self.path.stat().st_size

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)

        assert self.path is not None
        return self.path.open("rb")

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes."""
        if self.data is not None:
            return self.data[:size]

        with self.open() as stream:
            return stream.read(size)

    def read(self, limit: int | None = None) -> bytes:
        """The content, or its first ``limit`` bytes."""
        if self.data is not None:
            return self.data if limit is None else self.data[:limit]

        with self.open() as stream:
            return stream.read() if limit is None else stream.read(limit)


class TextSink:
    """Collects text up to a cap and remembers whether anything was cut."""

    def __init__(self, max_chars: int) -> None:
        # Clean-up shrinks text (control characters, joined lines, blank lines), so a
        # little more than the cap is kept and the final cut happens after it.
        self.cap = max_chars + max_chars // 10 + 1024
        self.parts: list[str] = []
        self.chars = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.chars >= self.cap

    def add(self, text: str) -> bool:
        """Append ``text``; return ``False`` once the cap is reached."""
        room = self.cap - self.chars
        if room <= 0:
            self.truncated = self.truncated or bool(text)
            return False

        if len(text) > room:
            text = text[:room]
            self.truncated = True

        self.parts.append(text)
        self.chars += len(text)
        return not self.full

    def text(self) -> str:
        return "".join(self.parts)


class Job:
    """One extraction in progress."""

    def __init__(
        self,
        result: Extraction,
        limits: Limits,
        *,
        deadline: float | None = None,
        sink: TextSink | None = None,
    ) -> None:
        self.result = result
        self.limits = limits
        self.deadline = (
            time.monotonic() + limits.max_seconds if deadline is None else deadline
        )
        self.sink = sink if sink is not None else TextSink(limits.max_text_chars)
        self.timed_out = False

    def child(self, mime: str, kind: str) -> Job:
        """A job for a file inside this one, sharing the clock and the text."""
        result = type(self.result)(mime=mime, kind=kind)
        return Job(result, self.limits, deadline=self.deadline, sink=self.sink)

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    @property
    def text_full(self) -> bool:
        return self.sink.full

    def add_text(self, text: str) -> bool:
        """Add extracted text; ``False`` means stop reading, the text is full."""
        return self.sink.add(text)

    def note(self, problem: str) -> None:
        """Record a problem that leaves the status as it is."""
        if problem not in self.result.problems:
            self.result.problems.append(problem)

    def partial(self, problem: str) -> None:
        """Record a problem that means some content could not be read."""
        if self.result.status == "ok":
            self.result.status = "partial"

        self.note(problem)

    def reject(self, problem: str) -> None:
        """Record why the file cannot be accepted at all."""
        self.result.status = "rejected"
        self.note(problem)

    def stopped(self, where: str) -> None:
        """Record that the time limit cut reading short ``where`` (e.g. a page)."""
        self.timed_out = True
        self.partial(
            f"reading stopped {where}: the {self.limits.max_seconds:g} s time limit "
            "was reached, so the rest is not indexed"
        )
