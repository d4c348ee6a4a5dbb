"""What only the embedded engine does: share a directory between processes, hold the
writer lock briefly, refuse an index built with another layout, and build Kejian's
order of hits from tantivy's."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tantivy

from indexer.engines import open_engine, tantivy_order
from indexer.engines.base import (
    IndexOutdated,
    QueryError,
    SearchEngineError,
    SearchQuery,
    SearchUnavailable,
)
from indexer.engines.tantivy_engine import (
    GENERATIONS_DIR,
    MARKER_FILE,
    POINTER_FILE,
    SWAP_LOCK_FILE,
    TantivyEngine,
)

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
    held = tantivy.Index.open(str(engine.live_path)).writer(15_000_000, 1)

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
    live = TantivyEngine(path).live_path
    marker = json.loads((live / MARKER_FILE).read_text())
    marker["schema"] = 0
    (live / MARKER_FILE).write_text(json.dumps(marker))


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

    # clear() (an empty rebuild) swaps in an empty, current index.
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
    assert generations(path) == [TantivyEngine(path).live_path.name]


# ------------------------------------------------------------------ rebuild


def generations(path: Path) -> list[str]:
    return sorted(p.name for p in (path / GENERATIONS_DIR).iterdir())


def test_another_engine_reads_the_old_index_until_a_rebuild_commits(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    web = TantivyEngine(path)
    cli = TantivyEngine(path)
    web.index([make_doc("old", title="旧课件")])

    with cli.rebuild() as rebuild:
        for batch in range(3):
            rebuild.index([make_doc(f"new{batch}", title="新课件")])
            assert ids_found(web, "课件") == ["old"]
        rebuild.commit()

    assert ids_found(web, "课件") == ["new0", "new1", "new2"]
    # Writes follow the switch too, and reach the searches of both engines.
    web.index([make_doc("later", title="新课件")])
    assert ids_found(cli, "新课件") == ["later", "new0", "new1", "new2"]
    assert generations(path) == [web.live_path.name]


def test_a_failed_rebuild_leaves_the_live_index_and_no_directory(
    tmp_path: Path, make_doc: MakeDoc, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "index"
    web = TantivyEngine(path)
    cli = TantivyEngine(path)
    web.index([make_doc("old", title="旧课件")])
    before = generations(path)
    converted = 0
    real_convert = TantivyEngine._convert

    def convert_then_fail(self: TantivyEngine, document: Any) -> Any:
        nonlocal converted
        converted += 1
        if converted > 5:
            raise RuntimeError("disk full")
        return real_convert(self, document)

    monkeypatch.setattr(TantivyEngine, "_convert", convert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        with cli.rebuild() as rebuild:
            for i in range(10):
                rebuild.index([make_doc(f"new{i}", title="新课件")])
            rebuild.commit()
    monkeypatch.undo()

    assert ids_found(web, "课件") == ["old"]
    assert ids_found(cli, "课件") == ["old"]
    assert generations(path) == before
    web.index([make_doc("after", title="新课件")])
    assert ids_found(cli, "课件") == ["after", "old"]


def test_a_failed_switch_aborts_the_rebuild(
    tmp_path: Path, make_doc: MakeDoc, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "index"
    engine = TantivyEngine(path)
    engine.index([make_doc("old")])
    before = generations(path)

    def cannot_switch(name: str) -> None:
        raise SearchUnavailable("read-only file system")

    monkeypatch.setattr(engine, "_point_to", cannot_switch)
    with pytest.raises(SearchUnavailable, match="read-only"):
        with engine.rebuild() as rebuild:
            rebuild.index([make_doc("new")])
            rebuild.commit()

    assert engine.ids() == {"old"}
    assert generations(path) == before


def test_a_rebuild_in_another_process_is_seen_by_the_next_search(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    web = TantivyEngine(path)
    web.index([make_doc("old", title="旧课件")])
    assert ids_found(web, "课件") == ["old"]
    script = (
        "import sys; from pathlib import Path\n"
        "from indexer.engines.tantivy_engine import TantivyEngine\n"
        "with TantivyEngine(Path(sys.argv[1])).rebuild() as rebuild:\n"
        "    rebuild.index([{'id': 'new', 'title': '新课件', 'acl': ['public']}])\n"
        "    rebuild.commit()\n"
    )

    subprocess.run(
        [sys.executable, "-c", script, str(path)], check=True, cwd=REPO, timeout=60
    )

    assert ids_found(web, "课件") == ["new"]
    assert generations(path) == [web.live_path.name]


def test_a_write_racing_the_switch_reaches_the_new_generation(
    tmp_path: Path, make_doc: MakeDoc, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "index"
    web = TantivyEngine(path)
    cli = TantivyEngine(path)
    rebuild = cli.rebuild()
    rebuild.index([make_doc("rebuilt")])
    real_commit = web._commit
    switched = False

    def commit_then_switch(*args: Any) -> None:
        # The worker's write lands in the old generation just before the switch.
        nonlocal switched
        real_commit(*args)
        if not switched:
            switched = True
            rebuild.commit()

    monkeypatch.setattr(web, "_commit", commit_then_switch)
    web.index([make_doc("worker")])

    assert switched
    assert cli.ids() == {"rebuilt", "worker"}


def test_a_rebuild_still_running_survives_another_ones_switch(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    engine = TantivyEngine(path)
    slow = engine.rebuild()
    slow.index([make_doc("slow")])

    with engine.rebuild() as fast:
        fast.index([make_doc("fast")])
        fast.commit()
    assert engine.ids() == {"fast"}
    assert slow.generation in generations(path)

    # The last commit wins, and removes the generation it replaces.
    slow.commit()
    assert engine.ids() == {"slow"}
    assert generations(path) == [slow.generation]


def test_a_killed_rebuild_is_removed_by_the_next_switch(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    engine = TantivyEngine(path)
    leftover = path / GENERATIONS_DIR / "20200101T000000-deadbeef"
    leftover.mkdir()
    (leftover / "segment.idx").write_bytes(b"half written")

    engine.clear()

    assert generations(path) == [engine.live_path.name]


def test_an_outdated_index_is_rebuilt_beside_itself(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    TantivyEngine(path).index([make_doc("old")])
    _mark_outdated(path)
    engine = TantivyEngine(path)
    with pytest.raises(IndexOutdated):
        engine.search(SearchQuery())

    with engine.rebuild() as rebuild:
        rebuild.index([make_doc("new")])
        with pytest.raises(IndexOutdated):
            engine.search(SearchQuery())
        rebuild.commit()

    assert engine.ids() == {"new"}


def _legacy_index(path: Path, make_doc: MakeDoc) -> None:
    """An index as Kejian wrote it before generations: tantivy files in *path*."""
    built = TantivyEngine(path.with_name("built"))
    built.index([make_doc("old", title="旧课件")])
    shutil.copytree(built.live_path, path)
    shutil.rmtree(path.with_name("built"))


def test_an_index_from_before_generations_is_used_then_replaced(
    tmp_path: Path, make_doc: MakeDoc
) -> None:
    path = tmp_path / "index"
    _legacy_index(path, make_doc)
    web = TantivyEngine(path)
    cli = TantivyEngine(path)
    assert web.live_path == path
    assert ids_found(web, "课件") == ["old"]
    web.index([make_doc("written", title="课件")])

    with cli.rebuild() as rebuild:
        rebuild.index([make_doc("new", title="新课件")])
        assert ids_found(web, "课件") == ["old", "written"]
        rebuild.commit()

    assert ids_found(web, "课件") == ["new"]
    assert sorted(p.name for p in path.iterdir()) == sorted(
        [POINTER_FILE, GENERATIONS_DIR, SWAP_LOCK_FILE]
    )
    assert TantivyEngine(path).ids() == {"new"}


# --------------------------------------------------------- order and cursors


#: Ids of the documents of _ranked_docs: told apart by their first eight bytes,
#: all sharing them, or in two groups that share them ("kejian-a", "kejian-b").
ID_STYLES = {
    "short": lambda i: f"d{i}",
    "shared": lambda i: f"kejian-resource-{i}",
    "mixed": lambda i: f"kejian-{'ab'[i % 2]}{i}",
}


def _ranked_docs(make_doc: MakeDoc, style: str) -> list[dict[str, Any]]:
    """40 documents whose scores, dates and download counts repeat in runs."""
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    return [
        make_doc(
            ID_STYLES[style](i),
            title="勾股定理" + " 证明" * (i % 4),
            updated_at=start + dt.timedelta(days=i % 5),
            downloads=i % 3,
        )
        for i in range(40)
    ]


def _cursor_pages(engine: TantivyEngine, query: SearchQuery) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        result = engine.search(replace(query, search_after=cursor))
        if not result.hits:
            return seen
        seen += [hit.id for hit in result.hits]
        cursor = result.cursor


@pytest.mark.parametrize("sort", ["relevance", "newest", "popular"])
@pytest.mark.parametrize("long_run", [10_000, 2], ids=["fetched", "from-index"])
@pytest.mark.parametrize("style", list(ID_STYLES))
def test_pages_keep_the_order_when_little_is_fetched_ahead(
    tmp_path: Path,
    make_doc: MakeDoc,
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
    long_run: int,
    style: str,
) -> None:
    # One hit fetched past a page and two before a relevance cursor: runs of equal
    # keys are completed every time, by fetching deeper or from the index (where
    # runs of equal scores longer than *long_run* are read). Ids that share their
    # first eight bytes are told apart by their text.
    monkeypatch.setattr(tantivy_order, "_LOOKAHEAD", 1)
    monkeypatch.setattr(tantivy_order, "_FIRST_FETCH", 2)
    monkeypatch.setattr(tantivy_order, "_LONG_RUN", long_run)
    engine = TantivyEngine(tmp_path / "index")
    docs = _ranked_docs(make_doc, style)
    engine.index(docs[:20])
    engine.index(docs[20:])
    query = SearchQuery(text="定理", sort=sort, limit=3)

    whole = engine.search(replace(query, limit=100)).hits
    by_offset = [
        hit.id
        for offset in range(0, 40, 3)
        for hit in engine.search(replace(query, offset=offset)).hits
    ]

    order = [hit.id for hit in whole]
    assert sorted(order) == sorted(doc["id"] for doc in docs)
    assert by_offset == order
    assert _cursor_pages(engine, query) == order
    if sort == "relevance":
        keys = [(-hit.score, hit.id) for hit in whole]
        assert keys == sorted(keys)


def test_relevance_cursors_go_as_deep_as_the_limit(
    tmp_path: Path, make_doc: MakeDoc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tantivy_order, "RELEVANCE_DEPTH", 10)
    monkeypatch.setattr(tantivy_order, "_FIRST_FETCH", 4)
    engine = TantivyEngine(tmp_path / "index")
    # The word once more in each: every score differs.
    engine.index([make_doc(f"d{n:02}", text="分数 " * n) for n in range(1, 31)])
    query = SearchQuery(text="分数", limit=3)

    pages = []
    cursor = None
    with pytest.raises(QueryError, match="newest"):
        while True:
            result = engine.search(replace(query, search_after=cursor))
            pages.append([hit.id for hit in result.hits])
            cursor = result.cursor

    # Pages while the cursor's place lies within the ten best; then a clear refusal.
    assert pages == [
        ["d30", "d29", "d28"],
        ["d27", "d26", "d25"],
        ["d24", "d23", "d22"],
    ]


# ------------------------------------------------------------------ factory


@pytest.mark.parametrize("url", [None, ""])
def test_open_engine_defaults_to_the_embedded_index(
    tmp_path: Path, url: str | None
) -> None:
    engine = open_engine(url, home=tmp_path)

    assert isinstance(engine, TantivyEngine)
    assert engine.path == tmp_path / "index"
    assert (engine.live_path / "meta.json").exists()


def test_open_engine_names_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SearchEngineError, match="KEJIAN_SEARCH_URL"):
        open_engine("ftp://example.org/index", home=tmp_path)
