"""The main job on real files: import all of ../shared/corpus, check every file's
outcome against the manifest, find by words from the content, download identical bytes."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from tests.conftest import CORPUS

pytestmark = [
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing"),
    pytest.mark.corpus,
]

# What the manifest's kind column means for the sniffed kind.
KIND_OF = {
    "pdf": {"pdf"},
    "office": {"document", "presentation", "spreadsheet"},
    "package": {"package", "archive"},  # a zip without a manifest is an archive
    "media": {"video", "audio", "image", "text"},
    "zh": {"text"},
}


def _manifest() -> dict[str, dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


SEARCHES = [
    ("校长", "pdf/issue2128r.pdf"),  # Chinese PDF title page
    ("三角函数", "zh/trig-basics.md"),
    ("等差数列", "zh/ap.md"),
    ("反应速率", "zh/rate.md"),
    ("tracemonkey", "pdf/tracemonkey.pdf"),
    ("Federal Register", "pdf/pr-00530-ml-lines.pdf"),
]

DOWNLOADS = ["pdf/tracemonkey.pdf", "media/rabbit320.mp4", "package/allyworkshop.imscc"]


def test_import_the_corpus_then_find_and_download(app, world, api, client) -> None:
    # Import every corpus file into a rural school, public.
    runner = app.test_cli_runner()
    args = ["import", str(CORPUS), "--org", "s3", "--visibility", "public", "--json"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)

    # Each manifest file ends imported (of the right kind) or refused with a reason.
    manifest = _manifest()
    outcome = {}
    for item in summary["imported"] + summary["rejected"] + summary["duplicates"]:
        outcome[str(item["path"]).split("/corpus/", 1)[1]] = item
    assert set(manifest) <= set(outcome), sorted(set(manifest) - set(outcome))
    for rel, row in manifest.items():
        item = outcome[rel]
        if "same_as" in item:
            continue
        if row["kind"] == "broken":
            assert "resource_id" in item or item["reason"], rel
            if "resource_id" in item:
                assert item["extraction"] in ("partial", "ok"), rel
            continue
        assert "resource_id" in item, f"{rel} was refused: {item.get('reason')}"
        assert item["kind"] in KIND_OF[row["kind"]], (rel, item["kind"])
        if row["notes"].upper().startswith("ENCRYPTED"):
            resource = client.get(f"/api/v1/resources/{item['resource_id']}").get_json()
            assert resource["files"][0]["encrypted"], rel

    # A second run imports nothing new.
    again = json.loads(runner.invoke(args=args).output)
    assert again["counts"]["imported"] == 0 and again["counts"]["rejected"] == 0
    assert again["counts"]["already_imported"] == (
        summary["counts"]["imported"] + summary["counts"]["rejected"]
    )

    # Anonymous visitors find Chinese and English resources by words of their content.
    ids_of = {rel: i["resource_id"] for rel, i in outcome.items() if "resource_id" in i}
    for query, rel in SEARCHES:
        hits = api.search(None, q=query, per_page=50).get_json()["hits"]
        assert ids_of[rel] in {h["id"] for h in hits}, (query, [h["title"] for h in hits])

    # Downloads are byte-identical, whole and reassembled from ranges.
    for rel in DOWNLOADS:
        resource = client.get(f"/api/v1/resources/{ids_of[rel]}").get_json()
        url = resource["files"][0]["content_url"]
        original = (CORPUS / rel).read_bytes()
        whole = client.get(url)
        assert whole.status_code == 200
        assert hashlib.sha256(whole.data).digest() == hashlib.sha256(original).digest()
        third = len(original) // 3
        ranges = [f"0-{third - 1}", f"{third}-{2 * third - 1}", f"{2 * third}-"]
        parts = [client.get(url, headers={"Range": f"bytes={r}"}) for r in ranges]
        assert all(p.status_code == 206 for p in parts)
        assert b"".join(p.data for p in parts) == original
