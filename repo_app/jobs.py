"""Background jobs through huey, with one API in both modes.

- Embedded (no ``KEJIAN_QUEUE_URL``): huey runs in immediate mode, so a job runs in the
  calling process right after the database commit that asked for it.
- ``KEJIAN_QUEUE_URL=redis://…`` (production) or ``sqlite:///…`` (one machine, separate
  worker): jobs are queued and ``kejian worker`` runs them. The search index has a
  single writer, and that writer is the worker.

Jobs enter an application context themselves, so the same functions run in a web
process, a command and a worker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey

from repo_app.runtime import Runtime

log = logging.getLogger("kejian.jobs")


def _build(url: str | None) -> Huey:
    if not url:
        return MemoryHuey("kejian", immediate=True)
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        return RedisHuey("kejian", url=url)
    # sqlite:///absolute/path or sqlite://relative/path
    path = Path(url.split("://", 1)[1])
    return SqliteHuey("kejian", filename=str(path))


def make_huey(app: Flask, rt: Runtime) -> Huey:
    huey = _build(rt.settings.queue_url)
    rt.huey = huey

    @huey.task(retries=5, retry_delay=5)
    def deliver_index() -> int:
        from repo_app.services import indexing

        with app.app_context():
            delivered, failed = indexing.deliver()
            if failed:
                log.warning("index delivery left %d resources for a retry", failed)
            return delivered

    @huey.task(retries=2, retry_delay=30)
    def extract_file(sha256: str) -> str:
        from repo_app.services import files

        with app.app_context():
            return files.extract_stored(sha256)

    rt.tasks["deliver_index"] = deliver_index
    rt.tasks["extract_file"] = extract_file
    return huey


def run_pending(huey: Huey) -> int:
    """Run every queued job in this process, then return how many ran (``--once``)."""
    ran = 0
    while True:
        task = huey.dequeue()
        if task is None:
            return ran
        huey.execute(task)
        ran += 1
