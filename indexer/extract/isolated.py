"""Run :func:`indexer.extract.extract` in worker processes.

The extractors parse hostile files with C libraries (PDFium, libxml2). A crash there
must cost one file, not the web server or an import of thousands of files, and PDFium
may not be used from several threads of one process. So every extraction runs in a
small pool of single-threaded worker processes:

- a worker that dies (a segfault, the memory limit) turns into a ``rejected`` result
  saying the file could not be read safely, and the pool is started again;
- a worker that overruns the time limit by far is killed the same way;
- each worker is replaced after a number of files, so leaks do not pile up.

The pool is shared by every application in the process and started on first use.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable
from pathlib import Path

from indexer.extract.core import Extraction, Limits, extract

log = logging.getLogger("kejian.extract")

#: Files a worker reads before it is replaced.
FILES_PER_WORKER = 200
#: Extra seconds past the extractor's own time limit before a worker is killed.
GRACE_SECONDS = 30.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # "spawn": a fork of a threaded web server could copy held locks.
            _pool = ProcessPoolExecutor(
                max_workers=_workers(),
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=FILES_PER_WORKER,
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _failed(path: Path, reason: str) -> Extraction:
    from indexer.extract.core import sniff

    try:
        mime, kind = sniff(path)
    except Exception:  # noqa: BLE001 - the file is refused either way
        mime, kind = "application/octet-stream", "other"
    return Extraction(mime=mime, kind=kind, status="rejected", problems=[reason])


def extract_isolated(
    path: Path,
    filename: str | None = None,
    limits: Limits | None = None,
    *,
    reader: Callable[[Path, str | None, Limits], Extraction] = extract,
) -> Extraction:
    """Like :func:`indexer.extract.extract`, in a worker process.

    :param reader: the function the worker runs; a module-level function with
        :func:`~indexer.extract.extract`'s signature.
    """
    limits = limits or Limits()
    pool = _get_pool()
    try:
        future = pool.submit(reader, path, filename, limits)
    except BrokenProcessPool:
        _discard(pool)
        pool = _get_pool()
        future = pool.submit(reader, path, filename, limits)
    try:
        return future.result(timeout=limits.max_seconds + GRACE_SECONDS)
    except BrokenProcessPool:
        _discard(pool)
        log.warning("extraction worker died file=%s", filename or path.name)
        return _failed(path, "the file crashed the reader, so it cannot be read safely")
    except FutureTimeout:
        _discard(pool)
        log.warning("extraction worker killed after time limit file=%s", filename or path.name)
        return _failed(path, "reading the file took far too long")


def shutdown() -> None:
    """Stop the workers (at interpreter exit the pool stops by itself)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
