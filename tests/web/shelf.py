"""Published resources for the tests of the catalogue pages (browse, search, resource).

:class:`Shelf` puts resources in through the API as an uploader would (create, upload,
publish), so that they are indexed exactly as in use. The city administrator
publishes, which needs no review at any visibility.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from repo_app.extensions import db
from repo_app.models import ChapterNode
from tests.conftest import Api

#: The book whose chapter list the tests browse (初中 数学 人教版 七年级 上册).
BOOK = "junior/math/pep/g7/vol1"
BOOK_PATH = "junior/math/pep/g7/vol1"
BOOK_FILTERS = {
    "stage": "junior",
    "subject": "math",
    "edition": "pep",
    "grade": "g7",
    "volume": "vol1",
}


class Shelf:
    def __init__(self, api: Api) -> None:
        self.api = api

    def add(
        self,
        title: str,
        *,
        who: str = "uploader1",
        visibility: str | None = "public",
        files: dict[str, bytes] | None = None,
        **metadata: Any,
    ) -> int:
        """A resource of *who*'s school with *files* (one text file by default),
        published at *visibility* (``None`` leaves it a draft); its id."""
        rid: int = self.api.create(who, title=title, **metadata)["id"]
        for name, data in (files or {"lesson.txt": title.encode()}).items():
            resp = self.api.upload(who, rid, name, data, version="current")
            assert resp.status_code == 201, resp.get_json()
        if visibility is not None:
            resp = self.api.publish("cityadmin", rid, visibility)
            assert resp.get_json()["status"] == "published", resp.get_json()
        return rid


def chapters(textbook: str = BOOK) -> dict[str, int]:
    """Chapter title -> id of *textbook*, loaded from the vocabularies as
    ``kejian demo`` does (a unit and a lesson may share a title: the unit wins)."""
    from repo_app.services.accounts import load_chapters

    if not db.session.scalar(select(ChapterNode.id).limit(1)):
        load_chapters()
        db.session.commit()
    rows = db.session.execute(
        select(ChapterNode.title, ChapterNode.id, ChapterNode.parent_id)
        .where(ChapterNode.textbook == textbook)
        .order_by(ChapterNode.position)
    )
    found: dict[str, int] = {}
    for title, node_id, parent in rows:
        if parent is None or title not in found:
            found[title] = node_id
    return found
