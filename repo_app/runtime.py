"""The services one Kejian process holds: settings, object store, search engine,
vocabularies and job queue.

They live on ``app.extensions["kejian"]`` and are reached through :func:`runtime`, so
that views, services, jobs and commands all share one of each per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from config.settings import Settings
from config.vocabularies import Vocabularies
from indexer.engines.base import SearchEngine
from storage.base import ObjectStore

if TYPE_CHECKING:
    from huey import Huey


@dataclass
class Runtime:
    settings: Settings
    store: ObjectStore
    engine: SearchEngine
    vocab: Vocabularies
    huey: Huey
    #: Task callables registered on :attr:`huey` (name -> huey TaskWrapper).
    tasks: dict[str, Any] = field(default_factory=dict)


def runtime() -> Runtime:
    return current_app.extensions["kejian"]  # type: ignore[no-any-return]
