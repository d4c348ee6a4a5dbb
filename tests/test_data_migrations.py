"""Migrations that repair data: what an instance made by an older Kejian holds comes
out as this version would have made it, and searchable as such."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, select, update

from repo_app.extensions import db
from repo_app.models import IndexOutbox, Resource
from repo_app.services import indexing


def test_the_importer_s_old_type_codes_become_the_vocabulary_s(app, api) -> None:
    old = {"micro_video": "micro-lecture", "course_package": "course-package", "media": "media-asset"}
    ids = {}
    for code in [*old, "courseware"]:
        rid = api.create("uploader1", title=f"旧导入 {code}", resource_type="courseware")["id"]
        api.upload("uploader1", rid, f"{code}.txt", f"旧导入的资源 {code}".encode())
        assert api.publish("cityadmin", rid, "public").status_code == 200
        ids[code] = rid
    # As an older importer left them: unknown codes, indexed as such.
    for code in old:
        db.session.execute(update(Resource).where(Resource.id == ids[code]).values(resource_type=code))
        indexing.mark(ids[code])
    db.session.commit()
    indexing.deliver()
    db.session.execute(delete(IndexOutbox))
    db.session.commit()
    stamps = dict(db.session.execute(select(Resource.id, Resource.updated_at)).all())
    db.session.remove()

    downgrade(revision="0004_lti_launch_locale")
    upgrade()

    types = dict(db.session.execute(select(Resource.id, Resource.resource_type)).all())
    assert types == {ids[code]: old.get(code, code) for code in ids}
    queued = set(db.session.scalars(select(IndexOutbox.resource_id)))
    assert queued == {ids[code] for code in old}
    assert dict(db.session.execute(select(Resource.id, Resource.updated_at)).all()) == stamps
    # Once delivered, search offers and filters them by the vocabulary's codes.
    assert indexing.deliver() == (3, 0)
    body = api.search(None, q="旧导入", resource_type="微课").get_json()
    assert [h["id"] for h in body["hits"]] == [ids["micro_video"]]
    facet = {f["value"]: f["label"] for f in body["facets"]["resource_type"]}
    assert facet["media-asset"] == "素材" and not facet.keys() & old.keys()
