"""What only the embedded engine does: share a directory between processes, hold the
writer lock briefly, and refuse an index built with another layout."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tantivy

from indexer.engines import open_engine
from indexer.engines.base import (
    IndexOutdated,
    SearchEngineError,
    SearchQuery,
    SearchUnavailable,
)
from indexer.engines.tantivy_engine import MARKER_FILE, TantivyEngine

MakeDoc = Callable[..., dict[str, Any]]
REPO = Path(__file__).resolve().parents[2]


def ids_found(engine: TantivyEngine, text: str = "") -> list[str]:
    return sorted(
        hit.id for hit in engine.search(SearchQuery(text=text, limit=50)).hits
    )


# -------------------------------------------------------------- shared index


def test_a_second_engine_sees_what_the_first_wrote(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    writer = TantivyEngine(tmp_path / "index")
    reader = TantivyEngine(tmp_path / "index")
    assert ids_found(reader) == []

    writer.index([make_doc("a", title="浮力")])
    assert ids_found(reader, "浮力") == ["a"]

    writer.delete(["a"])
    assert ids_found(reader, "浮力") == []


def test_the_writer_is_released_after_each_write(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    first = TantivyEngine(tmp_path / "index", lock_timeout=0)
    second = TantivyEngine(tmp_path / "index", lock_timeout=0)

    first.index([make_doc("a")])
    second.index([make_doc("b")])
    first.delete(["b"])
    second.clear()

    assert first.ids() == set()


def test_a_busy_writer_makes_writes_unavailable_not_lost(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    engine = TantivyEngine(tmp_path / "index", lock_timeout=0.2)
    held = tantivy.Index.open(str(tmp_path / "index")).writer(15_000_000, 1)

    with pytest.raises(SearchUnavailable, match="another process"):
        engine.index([make_doc("a")])
    # Searching does not need the writer.
    assert engine.search(SearchQuery()).total == 0

    held.wait_merging_threads()
    engine.index([make_doc("a")])
    assert engine.ids() == {"a"}


def test_a_commit_from_another_process_is_seen_without_reopening(
    tmp_path: Path,
) -> None:
    engine = TantivyEngine(tmp_path / "index")
    assert engine.ids() == set()
    script = (
        "import sys; from pathlib import Path\n"
        "from indexer.engines.tantivy_engine import TantivyEngine\n"
        "e = TantivyEngine(Path(sys.argv[1]))\n"
        "e.index([{'id': 'w', 'title': '工人进程', 'acl': ['public']}])\n"
    )

    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "index")],
        check=True,
        cwd=REPO,
        timeout=60,
    )

    assert ids_found(engine, "进程") == ["w"]


def test_searches_run_while_another_thread_writes(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    engine = TantivyEngine(tmp_path / "index")
    engine.index([make_doc(f"seed{i}", title="初始") for i in range(20)])
    errors: list[BaseException] = []
    done = threading.Event()

    def search_until_done() -> None:
        try:
            while not done.is_set():
                engine.search(SearchQuery(text="初始", facets=["subject"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=search_until_done) for _ in range(4)]
    for thread in readers:
        thread.start()
    for batch in range(10):
        engine.index([make_doc(f"b{batch}-{i}", title="初始") for i in range(10)])
    done.set()
    for thread in readers:
        thread.join()

    assert errors == []
    assert engine.search(SearchQuery(text="初始", limit=0)).total == 120


def test_a_closed_engine_is_unavailable(tmp_path: Path) -> None:
    engine = TantivyEngine(tmp_path / "index")
    engine.close()

    with pytest.raises(SearchUnavailable):
        engine.search(SearchQuery())
    with pytest.raises(SearchUnavailable):
        engine.check()


def test_check_passes_on_a_healthy_index(tmp_path: Path) -> None:
    TantivyEngine(tmp_path / "index").check()


# ------------------------------------------------------------ index layout


def _mark_outdated(path: Path) -> None:
    marker = json.loads((path / MARKER_FILE).read_text())
    marker["schema"] = 0
    (path / MARKER_FILE).write_text(json.dumps(marker))


def test_an_outdated_index_asks_for_a_reindex_until_cleared(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    TantivyEngine(path).index([make_doc("old")])
    _mark_outdated(path)

    engine = TantivyEngine(path)
    with pytest.raises(IndexOutdated, match="kejian reindex"):
        engine.search(SearchQuery())
    with pytest.raises(IndexOutdated):
        engine.index([make_doc("new")])

    # `kejian reindex` starts with clear(): it swaps in an empty, current index.
    engine.clear()
    engine.index([make_doc("new")])
    assert engine.ids() == {"new"}
    assert TantivyEngine(path).ids() == {"new"}


def test_another_engine_follows_a_rebuilt_index(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    TantivyEngine(path).index([make_doc("old")])
    _mark_outdated(path)
    web = TantivyEngine(path)
    worker = TantivyEngine(path)

    worker.clear()
    worker.index([make_doc("new")])

    assert web.ids() == {"new"}


def test_an_outdated_empty_index_is_replaced_silently(tmp_path: Path) -> None:
    path = tmp_path / "index"
    TantivyEngine(path)
    _mark_outdated(path)

    assert TantivyEngine(path).search(SearchQuery()).total == 0


def test_a_foreign_directory_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "index"
    path.mkdir()
    (path / "notes.txt").write_text("mine")

    with pytest.raises(SearchEngineError, match="not a Kejian search index"):
        TantivyEngine(path)
    assert (path / "notes.txt").read_text() == "mine"


def test_no_temporary_directories_are_left_behind(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    TantivyEngine(path).index([make_doc("old")])
    _mark_outdated(path)
    TantivyEngine(path).clear()

    assert [p.name for p in tmp_path.iterdir()] == ["index"]


# ------------------------------------------------------------------ factory


@pytest.mark.parametrize("url", [None, ""])
def test_open_engine_defaults_to_the_embedded_index(
    tmp_path: Path, url: str | None
) -> None:
    engine = open_engine(url, home=tmp_path)

    assert isinstance(engine, TantivyEngine)
    assert engine.path == tmp_path / "index"
    assert (tmp_path / "index" / "meta.json").exists()


def test_open_engine_does_not_offer_elasticsearch_yet(tmp_path: Path) -> None:
    with pytest.raises(SearchEngineError, match="Elasticsearch"):
        open_engine("http://localhost:9200", home=tmp_path)


def test_open_engine_names_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SearchEngineError, match="KEJIAN_SEARCH_URL"):
        open_engine("ftp://example.org/index", home=tmp_path)
