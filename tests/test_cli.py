"""The ``kejian`` command as an administrator and a script use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CORPUS


def _run(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args))


def test_org_user_token_import_search(app, tmp_path: Path) -> None:
    # Build a small city.
    assert _run(app, "org", "add", "c", "--name", "示范市", "--kind", "city").exit_code == 0
    assert _run(app, "org", "add", "d", "--name", "山南县", "--kind", "district", "--parent", "c",
                "--locality", "rural").exit_code == 0
    assert _run(app, "org", "add", "s", "--name", "石门村小", "--kind", "school", "--parent", "d",
                "--locality", "rural").exit_code == 0
    orgs = json.loads(_run(app, "org", "list", "--json").output)
    assert [(o["code"], o["parent"], o["locality"]) for o in orgs] == [
        ("c", None, None), ("d", "c", "rural"), ("s", "d", "rural")]

    # A user with a role, and a token that works on the API.
    assert _run(app, "user", "add", "li", "--role", "s:uploader", "--password", "long enough pw").exit_code == 0
    token = _run(app, "token", "create", "li").output.strip()
    assert token.startswith("kj_")
    resp = app.test_client().get("/api/v1/resources", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200

    # Import a folder with a metadata CSV written by Excel in GBK.
    folder = tmp_path / "课件"
    folder.mkdir()
    (folder / "fangcheng.md").write_text("# 一元二次方程\n\n配方法与公式法。", encoding="utf-8")
    (folder / "notes.txt").write_text("Photosynthesis notes for biology class.", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / ".hidden").write_text("skip me")
    meta = tmp_path / "meta.csv"
    meta.write_bytes("path,title,subject,stage,keywords\nfangcheng.md,方程复习,数学,初中,方程;复习\n".encode("gb18030"))
    result = _run(app, "import", str(folder), "--org", "s", "--metadata", str(meta), "--visibility",
                  "public", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["counts"] == {"imported": 2, "duplicates": 0, "already_imported": 0, "rejected": 1}
    assert "empty" in summary["rejected"][0]["reason"]

    found = json.loads(_run(app, "search", "方程", "--json").output)
    assert [h["title"] for h in found["hits"]] == ["方程复习"]
    found = json.loads(_run(app, "search", "photosynthesis", "--json").output)
    assert found["total"] == 1
    by_subject = json.loads(_run(app, "search", "", "--subject", "math", "--json").output)
    assert [h["title"] for h in by_subject["hits"]] == ["方程复习"]

    # The index can be rebuilt from the database.
    assert "Indexed 2 resources" in _run(app, "reindex").output
    assert json.loads(_run(app, "search", "方程", "--json").output)["total"] == 1


def test_import_resumes_and_skips_duplicates(app, tmp_path: Path) -> None:
    _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(3):
        (folder / f"n{i}.txt").write_text(f"lesson number {i}")
    (folder / "copy.txt").write_text("lesson number 0")  # same bytes as n0, imported before
    (folder / "dup1.txt").write_text("lesson number 1")  # same bytes as n1, new in this run
    first = json.loads(_run(app, "import", str(folder / "n0.txt"), "--org", "c", "--json").output)
    assert first["counts"]["imported"] == 1
    # As if the first run had been killed after one file: the rest comes in now.
    second = json.loads(_run(app, "import", str(folder), "--org", "c", "--json").output)
    assert second["counts"] == {"imported": 2, "duplicates": 1, "already_imported": 2, "rejected": 0}
    assert second["duplicates"][0]["path"].endswith("n1.txt")


def test_cli_errors_are_one_line(app, tmp_path: Path) -> None:
    result = _run(app, "import", str(tmp_path), "--org", "nowhere")
    assert result.exit_code == 1 and "nowhere" in result.output and "Traceback" not in result.output
    result = _run(app, "org", "add", "x", "--name", "X", "--kind", "school")
    assert result.exit_code == 1 and "parent" in result.output
    _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    result = _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    assert result.exit_code == 1 and "exists" in result.output
    result = _run(app, "user", "add", "u", "--role", "c:wizard", "--password", "long enough pw")
    assert result.exit_code == 1 and "ROLE" in result.output
    result = _run(app, "token", "create", "ghost")
    assert result.exit_code == 1 and "ghost" in result.output
    bad_csv = tmp_path / "m.csv"
    bad_csv.write_text("file,title\nx,y\n")
    result = _run(app, "import", str(tmp_path), "--org", "c", "--metadata", str(bad_csv))
    assert result.exit_code == 1 and "path" in result.output


def test_bad_metadata_value_rejects_that_file_only(app, tmp_path: Path) -> None:
    _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    (tmp_path / "a.txt").write_text("first lesson text")
    (tmp_path / "b.txt").write_text("second lesson text")
    meta = tmp_path / "meta.csv"
    meta.write_text("path,subject\na.txt,alchemy\n", encoding="utf-8")
    summary = json.loads(_run(app, "import", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"),
                              "--org", "c", "--metadata", str(meta), "--json").output)
    assert summary["counts"]["imported"] == 1 and summary["counts"]["rejected"] == 1
    assert "alchemy" in summary["rejected"][0]["reason"]
    # The row is corrected: the next run imports the file with it.
    meta.write_text("path,subject\na.txt,math\n", encoding="utf-8")
    again = json.loads(_run(app, "import", str(tmp_path / "a.txt"), "--org", "c",
                            "--metadata", str(meta), "--json").output)
    assert again["counts"]["imported"] == 1 and again["counts"]["already_imported"] == 0
    found = json.loads(_run(app, "search", "first", "--subject", "math", "--json").output)
    assert found["total"] == 1


def test_metadata_rows_that_name_no_file_are_reported(app, tmp_path: Path) -> None:
    _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    (tmp_path / "a.txt").write_text("lesson with a described file")
    meta = tmp_path / "meta.csv"
    meta.write_text("path,subject\na.txt,math\nlesson/typo.txt,math\n", encoding="utf-8")
    result = _run(app, "import", str(tmp_path / "a.txt"), "--org", "c", "--metadata", str(meta))
    assert result.exit_code == 0
    assert "metadata row names no file: lesson/typo.txt" in result.output
    assert "a.txt" not in result.output.split("names no file")[1]
    again = json.loads(_run(app, "import", str(tmp_path / "a.txt"), "--org", "c",
                            "--metadata", str(meta), "--json").output)
    assert again["metadata_rows_without_file"] == ["lesson/typo.txt"]


def test_demo_accounts_for_every_file(app, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    (folder / "pdf").mkdir(parents=True)
    (folder / "pdf" / "a.txt").write_text("a demo lesson")
    (folder / "pdf" / "b.txt").write_text("a demo lesson")  # the same bytes again
    (folder / "pdf" / "c.exe").write_bytes(b"MZ" + bytes(64))
    result = _run(app, "demo", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert "imported 1, duplicates 1, rejected 1, already there 0." in result.output


def test_run_warns_of_a_database_behind_the_migrations(app, capsys) -> None:
    from sqlalchemy import text

    from repo_app.cli import warn_of_pending_migrations
    from repo_app.extensions import db

    assert warn_of_pending_migrations(app) is False
    assert capsys.readouterr().err == ""
    (head,) = db.session.scalars(text("SELECT version_num FROM alembic_version"))
    db.session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    db.session.commit()
    try:
        assert warn_of_pending_migrations(app) is True
        assert "kejian db upgrade" in capsys.readouterr().err
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        db.session.commit()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing")
def test_imported_files_get_a_resource_type_of_the_vocabulary(app, tmp_path: Path) -> None:
    _run(app, "org", "add", "c", "--name", "C", "--kind", "city")
    paths = ["office/prs-notes.pptx", "media/rabbit320.mp4", "media/hopper.png",
             "media/bear.mp3", "package/singlescobasic.zip"]
    summary = json.loads(_run(app, "import", *(str(CORPUS / p) for p in paths), "--org", "c",
                              "--visibility", "public", "--json").output)
    assert summary["counts"]["imported"] == len(paths), summary

    # Each kind of file is typed with a code that search's filter and words know.
    client = app.test_client()
    types = {}
    for item in summary["imported"]:
        resource = client.get(f"/api/v1/resources/{item['resource_id']}").get_json()
        types[item["path"].split("/corpus/", 1)[1]] = resource["resource_type"]
    assert types == {
        "office/prs-notes.pptx": "courseware",
        "media/rabbit320.mp4": "micro-lecture",
        "media/hopper.png": "media-asset",
        "media/bear.mp3": "media-asset",
        "package/singlescobasic.zip": "course-package",
    }
    for code in set(types.values()):
        resp = client.get(f"/api/v1/search?resource_type={code}")
        assert resp.status_code == 200 and resp.get_json()["total"] >= 1, code
    found = client.get("/api/v1/search?q=微课").get_json()
    assert [hit["resource_type"] for hit in found["hits"]][:1] == ["micro-lecture"]
