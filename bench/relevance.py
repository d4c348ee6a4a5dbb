"""Relevance of search on a judged set of queries: nDCG@10 and MRR for each engine.

The judgments are data: ``bench/relevance/queries.json`` lists each query with the
resources a teacher would want first, graded 3 (ideal), 2 (good) or 1 (acceptable),
and ``bench/relevance/resources.json`` describes the generated resources they name
by a stable key, plus the seeded background of the rest of a city's pool.

The script builds a fresh instance (embedded defaults) in a temporary folder:

- the shared corpus imported the way ``kejian demo`` imports it (each top folder by
  one school, public, through :func:`repo_app.services.importer.run_import`), so that
  titles, extracted text and resource types are the product's own;
- every resource of ``resources.json`` and the background, created as published
  resources with one file whose extracted text is given, indexed by the product's
  index delivery (:mod:`repo_app.services.indexing`).

Then every query runs, in the same run, through

- the search engine (``engine.search`` with the access token that sees everything),
- the search service as the command line's principal (who sees everything), which
  must rank as the engine does,

on the embedded tantivy index, and on Elasticsearch too with ``--es-url URL`` or
``--osmem`` (osmem-server from PyPI, started here): the Elasticsearch engine is
filled from the same database by ``kejian reindex``'s code.

nDCG@10 uses the gain 2^grade - 1 and the discount log2(rank + 1), normalised by the
best order of the judged resources; MRR@10 is 1/rank of the first result with any
grade (0 when none is in the first ten). Results that are not judged count as 0.

    .venv/bin/python bench/relevance.py [--osmem | --es-url URL] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import random
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Instance,
    add_cluster_arguments,
    add_corpus_argument,
    add_output_arguments,
    elasticsearch_cluster,
    make_instance,
    seed_city,
    workdir,
    write_result,
)

if TYPE_CHECKING:
    from flask import Flask

    from config.vocabularies import Vocabularies

DATA = Path(__file__).resolve().parent / "relevance"
CUTOFF = 10
#: Results fetched per query: the metrics read the first ten, the report says where
#: the ideal resources of a poor query stand further down.
DEPTH = 50

#: Corpus folders and the benchmark school that imports each, as ``kejian demo``
#: gives each folder to one school of the demo city.
CORPUS_IMPORTS = [
    ("pdf", "bench-s1"),
    ("office", "bench-s2"),
    ("zh", "bench-s3"),
    ("media", "bench-s4"),
    ("package", "bench-s5"),
    ("broken", "bench-s6"),
]

#: File name extension and sniffed kind of a generated resource's file, by type.
FILE_KINDS = {
    "courseware": (".pptx", "presentation"),
    "lesson-plan": (".docx", "document"),
    "study-guide": (".docx", "document"),
    "exercises": (".docx", "document"),
    "test-paper": (".docx", "document"),
    "lesson-talk": (".docx", "document"),
    "micro-lecture": (".mp4", "video"),
    "lesson-recording": (".mp4", "video"),
    "media-asset": (".png", "image"),
    "e-textbook": (".pdf", "pdf"),
    "course-package": (".zip", "package"),
    "other": (".pdf", "pdf"),
}
KIND_BY_EXTENSION = {
    ".pptx": (
        "presentation",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ".docx": (
        "document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ".pdf": ("pdf", "application/pdf"),
    ".mp4": ("video", "video/mp4"),
    ".mp3": ("audio", "audio/mpeg"),
    ".png": ("image", "image/png"),
    ".zip": ("package", "application/zip"),
}
LICENCES = ["cc-by-4.0", "cc-by-nc-sa-4.0", "school-internal", "all-rights-reserved"]
STAGE_OF_GRADE = {
    **{f"g{n}": "primary" for n in range(1, 7)},
    **{f"g{n}": "junior" for n in range(7, 10)},
    **{f"g{n}": "senior" for n in range(10, 13)},
}
GRADES_OF_STAGE = {
    stage: [g for g, s in STAGE_OF_GRADE.items() if s == stage]
    for stage in ("primary", "junior", "senior")
}


# -- the judged set ------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    #: ``zh`` (Chinese characters), ``en`` (English) or ``mixed`` (both, or pinyin).
    script: str
    #: What the query tests: topic, corpus, metadata, synonym, misspelling ...
    cls: str
    #: Resource key -> grade (3 ideal, 2 good, 1 acceptable).
    judged: Mapping[str, int]

    @property
    def language_group(self) -> str:
        return "Chinese" if self.script == "zh" else "English/mixed"


@dataclass
class Spec:
    """A generated resource: what ``resources.json`` says, defaults filled in."""

    key: str
    title: str
    resource_type: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    stage: str | None = None
    grade: str | None = None
    subject: str | None = None
    edition: str | None = None
    volume: str | None = None
    language: str = "zh"
    text: str = ""
    #: ``textbook key#chapter code`` of each linked chapter.
    chapters: list[str] = field(default_factory=list)
    file: str | None = None

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Spec:
        spec = cls(**{k: v for k, v in row.items() if k != "text"})
        spec.text = row.get("text", "")
        if spec.stage is None and spec.grade is not None:
            spec.stage = STAGE_OF_GRADE[spec.grade]
        return spec

    def file_name(self) -> str:
        if self.file:
            return self.file
        extension, _ = FILE_KINDS[self.resource_type]
        return f"{self.title}{extension}"


def load_queries() -> list[Query]:
    rows = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))["queries"]
    return [Query(r["text"], r["script"], r["class"], r["judged"]) for r in rows]


def load_resources() -> tuple[list[Spec], dict[str, Any]]:
    """The judged generated resources and the background's description."""
    data = json.loads((DATA / "resources.json").read_text(encoding="utf-8"))
    return [Spec.from_json(row) for row in data["resources"]], data["background"]


# -- the background ------------------------------------------------------------------


def background(spec: Mapping[str, Any], vocab: Vocabularies, count: int) -> list[Spec]:
    """*count* resources of the rest of the pool, the same for the same seed.

    Each takes a textbook of the catalogue (edition, grade, volume), a topic of its
    subject and stage, a resource type and one of a few title patterns, as schools
    name their files.

    :raises ValueError: when a generated resource holds a reserved word, i.e. the
        background would hold a resource that some query should find.
    """
    rng = random.Random(spec["seed"])
    topics: dict[str, dict[str, list[str]]] = spec["topics"]
    english: dict[str, list[str]] = spec["english_topics"]
    type_words: dict[str, list[str]] = spec["type_words"]
    types = list(spec["type_weights"])
    weights = [spec["type_weights"][t] for t in types]
    reserved = [word.lower() for word in spec["reserved"]]

    def excluded(stage: str, grade: str, subject: str) -> bool:
        found = {"stage": stage, "grade": grade, "subject": subject}
        return any(
            all(found[name] == value for name, value in rule.items())
            for rule in spec["excluded"]
        )

    # Books of a base stage (not the 5-4 variants) whose subject has topics.
    books = [
        book
        for book in vocab.textbooks()
        if book.stage in GRADES_OF_STAGE
        and (book.stage in topics.get(book.subject, {}) or book.subject == "english")
    ]
    made: list[Spec] = []
    while len(made) < count:
        book = rng.choice(books)
        grade = book.grade or rng.choice(book.grades or GRADES_OF_STAGE[book.stage])
        if excluded(book.stage, grade, book.subject):
            continue

        rtype = rng.choices(types, weights)[0]
        type_word = rng.choice(type_words[rtype])
        grade_zh = vocab.label("grades", grade)
        volume_zh = vocab.label("volumes", book.volume) if book.volume else ""
        edition_zh = vocab.label("editions", book.edition).split("（")[0]
        subject_zh = vocab.label("subjects", book.subject)
        language = "zh"
        if book.subject == "english":
            topic = rng.choice(english[book.stage])
            unit = rng.randint(1, 8)
            if rng.random() < 0.4:
                language = "en"
                type_en = vocab.label("resource_types", rtype, "en").lower()
                title = f"Unit {unit} {topic} ({type_en})"
            else:
                title = f"{grade_zh}英语{volume_zh} Unit {unit} {topic} {type_word}"
        else:
            topic = rng.choice(topics[book.subject][book.stage])
            pattern = rng.random()
            if pattern < 0.45:
                title = (
                    f"{edition_zh}{grade_zh}{subject_zh}{volume_zh} {topic} {type_word}"
                )
            elif pattern < 0.8:
                title = f"{grade_zh}{subject_zh} 《{topic}》{type_word}"
            else:
                title = f"{topic}（第{rng.randint(1, 4)}课时）{type_word}"

        sentences = rng.sample(spec["sentences"], rng.randint(2, 5))
        _, kind = FILE_KINDS[rtype]
        made.append(
            Spec(
                key=f"bg-{len(made) + 1:05d}",
                title=title,
                resource_type=rtype,
                description=f"{edition_zh}{subject_zh}{grade_zh}{volume_zh}"
                f"“{topic}”{type_word}。{sentences[0]}",
                keywords=[topic, subject_zh],
                stage=book.stage,
                grade=grade,
                subject=book.subject,
                edition=book.edition,
                volume=book.volume,
                language=language,
                # Extraction finds no text in video and images.
                text=""
                if kind in ("video", "image")
                else f"{topic} {''.join(sentences)}",
            )
        )
        words = f"{title} {made[-1].description} {made[-1].text}".lower()
        clash = next((word for word in reserved if word in words), None)
        if clash is not None:
            raise ValueError(
                f"background resource {title!r} holds the reserved word {clash!r}; "
                "change the topics of resources.json"
            )
    return made


# -- building the instance -----------------------------------------------------------


@dataclass
class Built:
    """The instance and what it holds, by database id."""

    instance: Instance
    app: Flask
    #: Resource id -> stable key (corpus path or generated key).
    keys: dict[int, str]
    titles: dict[str, str]
    corpus_files: int
    judged_resources: int
    background_resources: int


def build(work: Path, corpus: Path, background_count: int) -> Built:
    """A fresh instance holding the corpus, the judged resources and the background,
    all indexed by the embedded engine."""
    from repo_app.extensions import db
    from repo_app.models import Visibility
    from repo_app.services import indexing
    from repo_app.services.accounts import load_chapters, org_by_code
    from repo_app.services.importer import run_import

    instance = make_instance(work / "instance", KEJIAN_LOG_LEVEL="WARNING")
    app = instance.app()
    seeded = seed_city(app, districts=2, schools_per_district=3)
    keys: dict[int, str] = {}

    began = time.perf_counter()
    with app.app_context():
        load_chapters()
        db.session.commit()
        for folder, school in CORPUS_IMPORTS:
            summary = run_import(
                [corpus / folder], org_by_code(school), visibility=Visibility.PUBLIC
            )
            for item in summary.imported:
                path = Path(item["path"]).relative_to(corpus).as_posix()
                keys[item["resource_id"]] = path
    corpus_files = len(keys)
    print(
        f"corpus: {corpus_files} files imported in {time.perf_counter() - began:.1f} s"
    )

    began = time.perf_counter()
    judged, background_spec = load_resources()
    with app.app_context():
        vocab = app.extensions["kejian"].vocab
        extra = background(background_spec, vocab, background_count)
        schools = [org_by_code(code) for code in seeded.schools]
        ids = _create(judged + extra, schools, vocab)
        keys.update(zip(ids, (spec.key for spec in judged + extra), strict=True))
        indexing.mark(*ids)
        db.session.commit()
        _, failed = indexing.deliver()
    if failed:
        raise SystemExit(f"{failed} generated resources could not be indexed")
    print(
        f"generated: {len(judged)} judged and {len(extra)} background resources "
        f"created and indexed in {time.perf_counter() - began:.1f} s"
    )

    with app.app_context():
        from sqlalchemy import select

        from repo_app.models import Resource

        titles = {
            keys[rid]: title
            for rid, title in db.session.execute(select(Resource.id, Resource.title))
            if rid in keys
        }
    return Built(instance, app, keys, titles, corpus_files, len(judged), len(extra))


def _create(
    specs: Sequence[Spec], schools: Sequence[Any], vocab: Vocabularies
) -> list[int]:
    """Create each spec as a published public resource with one file; return ids.

    Owner, dates, downloads and licence follow from the key, so that the same key
    always makes the same resource.
    """
    from sqlalchemy import select

    from repo_app.extensions import db
    from repo_app.models import ChapterNode, FileObject, Resource, Status, Visibility
    from repo_app.services import files

    chapters = {
        f"{node.textbook}#{node.code}": node
        for node in db.session.scalars(select(ChapterNode))
    }
    start = dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
    resources = []
    for spec in specs:
        for code, kind in (
            (spec.stage, "stages"),
            (spec.grade, "grades"),
            (spec.subject, "subjects"),
            (spec.edition, "editions"),
            (spec.volume, "volumes"),
            (spec.resource_type, "resource_types"),
        ):
            if code is not None and not vocab.is_valid(kind, code):
                raise ValueError(f"{spec.key}: {code!r} is not a code of {kind}")

        number = zlib.crc32(spec.key.encode())
        when = start + dt.timedelta(minutes=number % 600_000)
        name = spec.file_name()
        kind, mime = KIND_BY_EXTENSION[Path(name).suffix]
        blob = FileObject(
            sha256=hashlib.sha256(f"kejian-relevance:{spec.key}".encode()).hexdigest(),
            size=2_000 + number % 5_000_000,
            mime=mime,
            kind=kind,
            extraction="ok",
            encrypted=False,
            text=spec.text,
            language=spec.language,
            problems=[],
            outline=[],
            meta={},
        )
        resource = Resource(
            title=spec.title,
            description=spec.description,
            keywords=list(spec.keywords),
            language=spec.language,
            stage=spec.stage,
            grade=spec.grade,
            subject=spec.subject,
            edition=spec.edition,
            volume=spec.volume,
            resource_type=spec.resource_type,
            licence=LICENCES[number % len(LICENCES)],
            owner_org=schools[number % len(schools)],
            visibility=Visibility.PUBLIC,
            status=Status.PUBLISHED,
            downloads=number % 300,
            created_at=when,
            updated_at=when,
            published_at=when,
        )
        try:
            resource.chapters = [chapters[ref] for ref in spec.chapters]
        except KeyError as exc:
            raise ValueError(f"{spec.key}: no chapter {exc.args[0]!r}") from None
        db.session.add_all([blob, resource])
        files.add_file(resource, blob, name, user_id=None, note="generated")
        resources.append(resource)
    db.session.flush()
    return [r.id for r in resources]


# -- running the queries and scoring -------------------------------------------------


#: A search: query text -> resource ids, best first.
Searcher = Callable[[str], list[int]]


def engine_searcher(app: Flask) -> Searcher:
    """The engine of *app*, asked with the token that sees every document."""
    from indexer.engines.base import ACL_ALL, SearchQuery

    engine = app.extensions["kejian"].engine

    def run(text: str) -> list[int]:
        query = SearchQuery(text=text, acl=[ACL_ALL], limit=DEPTH, highlight=False)
        return [int(hit.id) for hit in engine.search(query).hits]

    return run


def service_searcher(app: Flask) -> Searcher:
    """The search service of *app* as the command line's principal."""
    from repo_app.security import Principal
    from repo_app.services import search as search_service

    def run(text: str) -> list[int]:
        with app.test_request_context():
            answer = search_service.search(
                Principal.command_line(),
                text=text,
                filters={},
                facets=[],
                sort="relevance",
                page=1,
                per_page=DEPTH,
            )
        return [int(hit["id"]) for hit in answer["hits"]]

    return run


def dcg(grades: Sequence[int]) -> float:
    return sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(grades))


def ndcg(
    ranked: Sequence[str], judged: Mapping[str, int], cutoff: int = CUTOFF
) -> float:
    """nDCG@cutoff of the keys *ranked*, best first, against *judged*."""
    ideal = dcg(sorted(judged.values(), reverse=True)[:cutoff])
    return dcg([judged.get(key, 0) for key in ranked[:cutoff]]) / ideal


def reciprocal_rank(
    ranked: Sequence[str], judged: Mapping[str, int], cutoff: int = CUTOFF
) -> float:
    """1/rank of the first judged result within *cutoff*, else 0."""
    for rank, key in enumerate(ranked[:cutoff], start=1):
        if judged.get(key, 0) > 0:
            return 1 / rank
    return 0.0


@dataclass
class Scored:
    query: Query
    ranked: list[str]
    ndcg: float
    rr: float


def score(
    queries: Sequence[Query], search: Searcher, keys: Mapping[int, str]
) -> list[Scored]:
    scored = []
    for query in queries:
        ranked = [keys.get(rid, f"id:{rid}") for rid in search(query.text)]
        scored.append(
            Scored(
                query,
                ranked,
                ndcg(ranked, query.judged),
                reciprocal_rank(ranked, query.judged),
            )
        )
    return scored


def summary(scored: Sequence[Scored]) -> dict[str, float]:
    return {
        "n": len(scored),
        "ndcg10": round(sum(s.ndcg for s in scored) / len(scored), 4),
        "mrr10": round(sum(s.rr for s in scored) / len(scored), 4),
    }


def groups(scored: Sequence[Scored]) -> Iterator[tuple[str, list[Scored]]]:
    """All queries, each language group, then each class (first seen order)."""
    yield "all", list(scored)
    for group in ("Chinese", "English/mixed"):
        yield group, [s for s in scored if s.query.language_group == group]
    classes = dict.fromkeys(s.query.cls for s in scored)
    for cls in classes:
        yield f"  {cls}", [s for s in scored if s.query.cls == cls]


def report(
    label: str, scored: Sequence[Scored], titles: Mapping[str, str]
) -> dict[str, Any]:
    """Print the figures of one engine (or the service) and return them."""
    print(f"\n{label}")
    print(f"  {'queries':<22} {'n':>3} {'nDCG@10':>8} {'MRR@10':>8}")
    figures: dict[str, Any] = {}
    for name, members in groups(scored):
        figures[name.strip()] = summary(members)
        s = figures[name.strip()]
        print(f"  {name:<22} {s['n']:>3} {s['ndcg10']:>8.3f} {s['mrr10']:>8.3f}")

    worst = sorted(scored, key=lambda s: (s.ndcg, s.rr, s.query.text))[:10]
    print("  worst 10 queries (nDCG@10, MRR@10): the first three results, then where")
    print("  the judged resources stand in the first 50 (grade in brackets)")
    for s in worst:
        q = s.query
        print(f"  {s.ndcg:5.3f} {s.rr:5.3f}  {q.text!r} ({q.cls}, {q.script})")
        for rank, key in enumerate(s.ranked[:3], start=1):
            grade = q.judged.get(key, 0)
            print(f"        {rank}. [{grade}] {titles.get(key, key)[:60]}  ({key})")
        places = {key: rank for rank, key in enumerate(s.ranked, start=1)}
        judged = sorted(q.judged.items(), key=lambda item: -item[1])
        shown = ", ".join(
            f"{key}[{grade}] at {places.get(key, '-')}" for key, grade in judged[:5]
        )
        print(f"        judged: {shown}")
    figures["queries"] = {
        s.query.text: {
            "ndcg10": round(s.ndcg, 4),
            "rr10": round(s.rr, 4),
            "first": s.ranked[:CUTOFF],
        }
        for s in scored
    }
    return figures


# -- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cluster_arguments(parser)
    add_corpus_argument(parser, "the shared corpus")
    parser.add_argument(
        "--background",
        type=int,
        help="background resources (default: the count in resources.json)",
    )
    add_output_arguments(parser)
    args = parser.parse_args()

    with workdir(args.workdir, "kejian-bench-relevance-", args.keep) as work:
        run(work, args.corpus, args)


def run(work: Path, corpus: Path, args: argparse.Namespace) -> None:
    queries = load_queries()
    count = args.background
    if count is None:
        count = load_resources()[1]["count"]
    chinese = sum(1 for q in queries if q.script == "zh")
    print(
        f"relevance benchmark: {len(queries)} judged queries ({chinese} Chinese, "
        f"{len(queries) - chinese} English or mixed)"
    )
    built = build(work, corpus, count)
    # A judged corpus file that the importer refused can never be found: say so
    # rather than let it pass for a ranking problem.
    missing = sorted({k for q in queries for k in q.judged} - set(built.titles))
    if missing:
        print(f"WARNING: judged but not in the instance: {', '.join(missing)}")
    result: dict[str, Any] = {
        "queries": len(queries),
        "corpus_files": built.corpus_files,
        "judged_resources": built.judged_resources,
        "background_resources": built.background_resources,
        "engines": {},
    }

    def measure(name: str, app: Flask) -> None:
        began = time.perf_counter()
        from_engine = score(queries, engine_searcher(app), built.keys)
        spent = time.perf_counter() - began
        figures = report(
            f"engine {name}: {len(queries)} queries in {spent * 1000:.0f} ms",
            from_engine,
            built.titles,
        )
        from_service = score(queries, service_searcher(app), built.keys)
        same = sum(
            1
            for a, b in zip(from_engine, from_service, strict=True)
            if a.ranked[:CUTOFF] == b.ranked[:CUTOFF]
        )
        service = summary(from_service)
        print(
            f"  search service (command-line principal): the same first ten as the "
            f"engine in {same}/{len(queries)} queries; "
            f"nDCG@10 {service['ndcg10']:.3f}, MRR@10 {service['mrr10']:.3f}"
        )
        figures["service"] = service | {"same_first_ten": same}
        result["engines"][name] = figures

    measure("tantivy", built.app)

    with elasticsearch_cluster(args.es_url, args.osmem) as cluster:
        if cluster is not None:
            if cluster.problem:
                print(f"\nengine elasticsearch: skipped, {cluster.problem}")
                result["engines"]["elasticsearch"] = {"skipped": cluster.problem}
            else:
                app = _elasticsearch_app(built, cluster.url, cluster.alias)
                measure(f"elasticsearch ({cluster.kind})", app)
                app.extensions["kejian"].engine.close()

    built.app.extensions["kejian"].engine.close()
    write_result(args.json_out, result)


def _elasticsearch_app(built: Built, url: str, alias: str) -> Flask:
    """An app on the same database whose engine is the cluster, filled by the
    product's full reindex."""
    from config.settings import load_settings
    from repo_app import create_app
    from repo_app.services import indexing

    env = dict(built.instance.env, KEJIAN_SEARCH_URL=url, KEJIAN_SEARCH_INDEX=alias)
    app = create_app(load_settings(env))
    began = time.perf_counter()
    with app.app_context():
        loaded = indexing.reindex_all()
    print(
        f"\nelasticsearch: {loaded} documents loaded by reindex in "
        f"{time.perf_counter() - began:.1f} s"
    )
    return app


if __name__ == "__main__":
    main()
