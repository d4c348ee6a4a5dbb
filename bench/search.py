"""Search at city scale: indexing throughput, and the latency of mixed queries on the
engine, the search service and the API, measured in one run.

Builds a fresh instance holding ``--n`` generated resources (default 100,000) on the
embedded tantivy index, or on Elasticsearch with ``--es-url URL`` or ``--osmem``
(``--engine elasticsearch``). Database rows are bulk-inserted (resources, one version
and one file each, some chapters); their search documents are built here with the
fields and access tokens that :func:`indexer.documents.build_document` gives (a
sample is rebuilt with ``build_document`` itself and must come out identical) and
loaded through the engine's public interface:

- the whole pool by :meth:`SearchEngine.rebuild`, as ``kejian reindex`` loads it:
  documents per second;
- then ``--updates`` batches of changed documents by :meth:`SearchEngine.index`, as
  index deliveries after a commit send them: documents per second and the time of
  one delivery.

Then the same mixed queries (Chinese and English words, with and without filters,
multi-select filters, three sorts, pages 1 and 2, anonymous and with an API token,
every facet counted) are timed, interleaved query by query in a rotating order so
that the machine's other work weighs on each alike:

- the raw engine, in this process: ``engine.search(SearchQuery(...))`` with the
  access tokens and facets the service passes;
- the search service, in this process: the principal from the token, the engine,
  the hits' rows and the facet labels (no WSGI, no JSON);
- the whole app through Flask's test client (no HTTP);
- the API over HTTP (gunicorn, one keep-alive connection per caller);

and, apart, the engine's own costs: the queries without facets, text only, browsing
(no words, every facet: the baseline of ``engine_tantivy.py`` before it), and title
suggestions; a trivial endpoint and ``/api/v1/health`` over HTTP tell HTTP's share.

Goals: API p95 < 20 ms, and our layer (API - raw engine) adds < 5 ms at p95 on the
embedded engine.

    .venv/bin/python bench/search.py --n 100000
    .venv/bin/python bench/search.py --osmem --n 5000
    .venv/bin/python bench/search.py --es-url http://localhost:9200 --n 1000000
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CITY,
    SCHOOL,
    UPLOADER,
    Client,
    Cluster,
    Instance,
    Server,
    add_cluster_arguments,
    add_output_arguments,
    dir_size,
    elasticsearch_cluster,
    latency_summary,
    make_instance,
    seed_city,
    verdict,
    workdir,
    write_result,
)

from config.vocabularies import FIELD_KINDS
from indexer import analysis
from indexer.documents import term_labels

if TYPE_CHECKING:
    from indexer.engines.base import SearchQuery

API_P95_GOAL_MS = 20.0
ADDED_P95_GOAL_MS = 5.0
PER_PAGE = 20
#: Documents per index delivery when live updates are timed.
UPDATE_BATCH = 200


def _words(text: str) -> list[str]:
    return text.split()


#: What teachers type into the search box, for the suggestion timings: pinyin
#: initials, pinyin, characters, English.
PREFIXES = _words("sx shu 数学 yw fc er gg wl 化学 ks phy un")
#: Words of school subjects that teachers type; the two-character ones are also
#: the bulk of the Chinese queries.
ZH_TOPICS = _words(
    "数学 语文 英语 物理 化学 生物 历史 地理 政治 音乐 美术 体育 科学 信息 "
    "方程 函数 几何 代数 分数 小数 整数 因式 不等式 概率 统计 向量 数列 导数 "
    "三角 圆周 面积 体积 周长 角度 坐标 图像 古诗 文言 阅读 作文 写作 拼音 "
    "识字 成语 修辞 散文 小说 诗歌 单词 语法 听力 口语 时态 句型 对话 电路 "
    "电流 电压 磁场 力学 浮力 压强 光学 声音 热量 能量 分子 原子 元素 离子 "
    "溶液 酸碱 氧化 细胞 遗传 基因 生态 进化 光合 呼吸 朝代 革命 战争 文明 "
    "改革 气候 河流 地形 人口 城市 课件 教案 学案 习题 试卷 微课 复习 预习 "
    "单元 期中 期末 练习 实验 探究 知识 课堂 同步 专题 导学 说课 素材 测验"
)
ZH_PHRASES = _words(
    "二次函数 一元一次方程 勾股定理 三角形全等 有理数 平行四边形 光合作用 "
    "元素周期表 牛顿第一定律 欧姆定律 古代诗歌 文言文阅读 现在进行时 "
    "细胞分裂 工业革命 季风气候 实验报告 期末复习 单元测试 教学设计"
)
EN_TOPICS = _words(
    "math algebra geometry function equation fraction reading writing grammar "
    "vocabulary listening speaking physics force energy circuit chemistry reaction "
    "element biology cell history geography climate lesson plan worksheet exam "
    "review unit chapter slides practice experiment quiz homework project summary "
    "introduction phonics poetry essay"
)
FILE_EXTENSIONS = {
    "presentation": ".pptx",
    "document": ".docx",
    "pdf": ".pdf",
    "video": ".mp4",
    "audio": ".mp3",
    "image": ".png",
    "spreadsheet": ".xlsx",
    "package": ".zip",
}
MIMES = {
    "presentation": "application/vnd.openxmlformats-officedocument."
    "presentationml.presentation",
    "document": "application/vnd.openxmlformats-officedocument."
    "wordprocessingml.document",
    "pdf": "application/pdf",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "image": "image/png",
    "spreadsheet": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "package": "application/zip",
}
KIND_WEIGHTS = {
    "presentation": 30,
    "document": 25,
    "pdf": 20,
    "video": 8,
    "audio": 3,
    "image": 6,
    "spreadsheet": 4,
    "package": 4,
}
#: Resource type -> weight; courseware and lesson plans dominate a school's pool.
TYPE_WEIGHTS = {
    "courseware": 30,
    "lesson-plan": 20,
    "exercises": 12,
    "test-paper": 10,
    "study-guide": 8,
    "micro-lecture": 6,
    "media-asset": 5,
    "lesson-talk": 3,
    "lesson-recording": 2,
    "e-textbook": 1,
    "course-package": 1,
    "other": 2,
}
#: Visibility -> weight: mostly public, the rest within the school, district, city.
VISIBILITY_WEIGHTS = {"public": 80, "city": 8, "district": 6, "school": 4, "owner": 2}


# -- the generated corpus ------------------------------------------------------------


@dataclass
class Org:
    id: int
    code: str
    name: str
    kind: str
    locality: str | None
    parent: str | None


@dataclass
class Batch:
    """Rows for each table and the search documents of one batch of resources."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    blobs: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)


class Corpus:
    """Deterministic courseware metadata and text, with the search document of
    each resource built as ``indexer.documents.build_document`` builds it."""

    def __init__(
        self,
        vocab: Any,
        orgs: dict[str, Org],
        chapters: list[tuple[int, str, str]],
        uploader_id: int,
        text_chars: int,
        seed: int,
    ) -> None:
        self.vocab = vocab
        self.orgs = orgs
        self.schools = [o for o in orgs.values() if o.kind == "school"]
        self.uploader_id = uploader_id
        self.uploader_school = orgs[SCHOOL].code
        self.text_chars = text_chars
        self.rng = random.Random(seed)
        self.chapters_by_book: dict[str, list[tuple[int, str]]] = {}
        for chapter_id, textbook, title in chapters:
            self.chapters_by_book.setdefault(textbook, []).append((chapter_id, title))
        self.books = vocab.textbooks()
        self.chapter_books = [b for b in self.books if b.key in self.chapters_by_book]
        self.types, self.type_weights = _weights(TYPE_WEIGHTS)
        self.kinds, self.kind_weights = _weights(KIND_WEIGHTS)
        self.visibilities, self.visibility_weights = _weights(VISIBILITY_WEIGHTS)
        self.licences = [t.code for t in vocab.terms("licences")]
        self.start = dt.datetime(2019, 9, 1, tzinfo=dt.UTC)
        self._words()

    def _words(self) -> None:
        """Filler words: two- and three-character words from the characters of the
        textbook catalogue, and made-up Latin words, each list Zipf-weighted so that
        a few words are common and most are rare."""
        rng = self.rng
        text = "".join(b.title for b in self.books) + "".join(
            title for rows in self.chapters_by_book.values() for _, title in rows
        )
        chars = sorted({c for c in text if "\u4e00" <= c <= "\u9fff"})
        self.zh_words = [
            "".join(rng.choices(chars, k=rng.choice((2, 2, 3)))) for _ in range(20_000)
        ]
        syllables = [a + b for a in "bcdfghklmnprstvw" for b in "aeiou"]
        self.en_words = [
            "".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(4_000)
        ]
        self.zh_cum = list(itertools.accumulate(1 / (r + 1) for r in range(20_000)))
        self.en_cum = list(itertools.accumulate(1 / (r + 1) for r in range(4_000)))
        self.book_titles = [b.title for b in self.books]
        self.chapter_titles = [
            t for rows in self.chapters_by_book.values() for _, t in rows
        ]

    def _zh_word(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return rng.choice(ZH_TOPICS)
        if roll < 0.035:
            return rng.choice(ZH_PHRASES)
        if roll < 0.04:
            return rng.choice(self.chapter_titles)
        x = rng.random() * self.zh_cum[-1]
        return self.zh_words[bisect.bisect_left(self.zh_cum, x)]

    def _en_word(self) -> str:
        rng = self.rng
        if rng.random() < 0.04:
            return rng.choice(EN_TOPICS)
        x = rng.random() * self.en_cum[-1]
        return self.en_words[bisect.bisect_left(self.en_cum, x)]

    def text(self, chars: int, english: float) -> str:
        """Sentences of about *chars* characters; *english* of them in English."""
        rng = self.rng
        out: list[str] = []
        size = 0
        while size < chars:
            if rng.random() < english:
                words = [self._en_word() for _ in range(rng.randint(5, 14))]
                sentence = " ".join(words).capitalize() + ". "
            else:
                sentence = "".join(self._zh_word() for _ in range(rng.randint(4, 10)))
                sentence += rng.choice("，。；：！？")
            out.append(sentence)
            size += len(sentence)
        return "".join(out)

    def make(self, first: int, count: int) -> Batch:
        batch = Batch()
        for rid in range(first, first + count):
            self._one(rid, batch)
        return batch

    def _one(self, rid: int, batch: Batch) -> None:
        rng = self.rng
        vocab = self.vocab

        # Metadata of a real textbook of the catalogue, so that the codes agree.
        if self.chapter_books and rng.random() < 0.15:
            book = rng.choice(self.chapter_books)
            picked = sorted(
                rng.sample(self.chapters_by_book[book.key], rng.randint(1, 2))
            )
        else:
            book = rng.choice(self.books)
            picked = []
        grade = book.grade or (rng.choice(book.grades) if book.grades else None)
        rtype = rng.choices(self.types, cum_weights=self.type_weights)[0]
        kind = rng.choices(self.kinds, cum_weights=self.kind_weights)[0]
        english = 0.9 if book.subject == "english" else 0.1
        language = (
            ("en" if book.subject == "english" and rng.random() < 0.5 else "zh")
            if rng.random() < 0.9
            else None
        )
        school = rng.choice(self.schools)
        owner = school
        district = self.orgs[school.parent or CITY]
        city = self.orgs[CITY]
        uploader = self.uploader_id if school.code == self.uploader_school else None
        visibility = rng.choices(
            self.visibilities, cum_weights=self.visibility_weights
        )[0]

        # Title: grade and subject, a topic or a chapter, the type; some in English.
        subject_zh = vocab.term("subjects", book.subject).zh
        grade_zh = vocab.term("grades", grade).zh if grade else ""
        type_term = vocab.term("resource_types", rtype)
        topic = picked[0][1] if picked else rng.choice(ZH_TOPICS + ZH_PHRASES)
        if english > 0.5 and rng.random() < 0.6:
            title = (
                f"Unit {rng.randint(1, 12)} {rng.choice(EN_TOPICS).capitalize()} "
                f"{rng.choice(EN_TOPICS)} {type_term.en.lower()}"
            )
        else:
            title = f"{grade_zh}{subject_zh} {topic} {type_term.zh}"
            if rng.random() < 0.3:
                title += f" 第{rng.randint(1, 8)}课时"
        description = self.text(rng.randint(40, 160), english)
        keywords = rng.sample(ZH_TOPICS, 2) + (
            [rng.choice(EN_TOPICS)] if english > 0.5 else []
        )
        body = self.text(
            rng.randint(self.text_chars // 2, self.text_chars * 3 // 2), english
        )
        file_title = title if rng.random() < 0.3 else None
        file_name = f"{title}{FILE_EXTENSIONS[kind]}"
        created = self.start + dt.timedelta(minutes=rng.randint(0, 3_000_000))
        updated = created + dt.timedelta(minutes=rng.randint(0, 200_000))
        downloads = int(rng.paretovariate(1.3)) - 1
        sha256 = hashlib.sha256(f"kejian-bench-{rid}".encode()).hexdigest()

        batch.resources.append(
            {
                "id": rid,
                "title": title,
                "description": description,
                "keywords": keywords,
                "language": language,
                "stage": book.stage,
                "grade": grade,
                "subject": book.subject,
                "edition": book.edition,
                "volume": book.volume,
                "resource_type": rtype,
                "licence": rng.choice(self.licences),
                "owner_org_id": owner.id,
                "uploader_id": uploader,
                "visibility": visibility,
                "status": "published",
                "downloads": downloads,
                "created_at": created,
                "updated_at": updated,
                "published_at": created,
            }
        )
        batch.blobs.append(
            {
                "sha256": sha256,
                "size": rng.randint(20_000, 40_000_000),
                "mime": MIMES[kind],
                "kind": kind,
                "extraction": "ok",
                "encrypted": False,
                "title": file_title,
                "text": body,
                "language": language,
                "pages": rng.randint(1, 60)
                if kind in ("pdf", "presentation")
                else None,
                "problems": [],
                "outline": [],
                "meta": {},
                "created_at": created,
            }
        )
        batch.versions.append(
            {
                "id": rid,
                "resource_id": rid,
                "number": 1,
                "note": "",
                "created_by_id": uploader,
                "created_at": created,
            }
        )
        batch.files.append(
            {
                "id": rid,
                "version_id": rid,
                "sha256": sha256,
                "name": file_name,
                "created_at": created,
            }
        )
        batch.chapters.extend(
            {"resource_id": rid, "chapter_id": chapter_id} for chapter_id, _ in picked
        )

        labels: list[str] = []
        resource = batch.resources[-1]
        for name, kind_name in DOC_VOCAB_FIELDS.items():
            code = resource[name]
            term = vocab.term(kind_name, code) if code else None
            if term is not None:
                labels.extend(term_labels(term))
        labels.extend(title for _, title in picked)
        labels.extend([owner.name, district.name, city.name])
        labels.extend(analysis.pinyin_words(title))
        batch.documents.append(
            {
                "id": str(rid),
                "title": title,
                "description": description,
                "keywords": keywords
                + ([file_title] if file_title else [])
                + [file_name],
                "labels": labels,
                "text": body,
                "stage": book.stage,
                "grade": grade,
                "subject": book.subject,
                "edition": book.edition,
                "volume": book.volume,
                "chapter": [str(chapter_id) for chapter_id, _ in picked],
                "resource_type": rtype,
                "licence": resource["licence"],
                "language": language,
                "owner_org": owner.code,
                "school": school.code,
                "district": district.code,
                "locality": owner.locality,
                "mime_group": [kind],
                "acl": self._acl(owner, district, city, uploader, visibility),
                "status": "published",
                "visibility": visibility,
                "created_at": created,
                "updated_at": updated,
                "downloads": downloads,
            }
        )

    def _acl(
        self,
        owner: Org,
        district: Org,
        city: Org,
        uploader: int | None,
        visibility: str,
    ) -> list[str]:
        """The access tokens ``repo_app.security.resource_acl`` gives a published
        resource of a school."""
        tokens = {f"admin:{o.id}" for o in (owner, district, city)}
        if uploader is not None:
            tokens.add(f"user:{uploader}")
        audience = {"school": owner, "district": district, "city": city}.get(visibility)
        if visibility == "public":
            tokens.add("public")
        elif audience is not None:
            tokens.add(f"org:{audience.id}")
        return sorted(tokens)


#: The vocabulary fields whose labels a document carries, in build_document's order
#: (not the language: "Chinese" would match every Chinese resource).
DOC_VOCAB_FIELDS = {k: v for k, v in FIELD_KINDS.items() if k != "language"}


def _weights(table: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(table), list(itertools.accumulate(table.values()))


# -- queries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    filters: tuple[tuple[str, str], ...]
    sort: str
    page: int
    with_token: bool

    def url(self) -> str:
        params: list[tuple[str, str]] = [("q", self.text), *self.filters]
        if self.sort != "relevance":
            params.append(("sort", self.sort))
        if self.page != 1:
            params.append(("page", str(self.page)))
        return "/api/v1/search?" + urlencode(params)

    def filter_map(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.filters:
            out.setdefault(name, []).append(value)
        return out


def make_queries(count: int, corpus: Corpus, seed: int) -> list[Query]:
    """A mix of what teachers type: a two-character Chinese word (most often), a
    longer term, two words, English words, Chinese and English together; half with
    one or two filters, a quarter of those with two values of one field; mostly by
    relevance; some second pages; half signed in."""
    rng = random.Random(seed)
    two_char = [w for w in ZH_TOPICS if len(w) == 2]
    subjects = [
        "math",
        "chinese",
        "english",
        "physics",
        "chemistry",
        "biology",
        "history",
        "geography",
        "morality-law",
        "science",
    ]
    grades = [f"g{i}" for i in range(1, 13)]
    stages = ["primary", "junior", "senior"]
    types = list(TYPE_WEIGHTS)[:6]
    schools = [s.code for s in corpus.schools]
    pickers: dict[str, Callable[[], str]] = {
        "subject": lambda: rng.choice(subjects),
        "grade": lambda: rng.choice(grades),
        "stage": lambda: rng.choice(stages),
        "resource_type": lambda: rng.choice(types),
        "school": lambda: rng.choice(schools),
    }
    queries = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.40:
            text = rng.choice(two_char)
        elif roll < 0.52:
            text = rng.choice(ZH_PHRASES)
        elif roll < 0.64:
            text = " ".join(rng.sample(two_char, 2))
        elif roll < 0.84:
            text = " ".join(rng.sample(EN_TOPICS, rng.choice((1, 1, 2))))
        else:
            text = f"{rng.choice(two_char)} {rng.choice(EN_TOPICS)}"
        filters: list[tuple[str, str]] = []
        if rng.random() < 0.5:
            options = [(name, pick()) for name, pick in pickers.items()]
            filters = sorted(rng.sample(options, rng.choice((1, 1, 2))))
            if rng.random() < 0.25:
                # Multi-select: a second value of the first field (OR within it).
                name = filters[0][0]
                filters = sorted({*filters, (name, pickers[name]())})
        sort = rng.choices(["relevance", "newest", "popular"], [8, 1, 1])[0]
        page = 2 if rng.random() < 0.15 else 1
        queries.append(Query(text, tuple(filters), sort, page, with_token=i % 2 == 1))
    return queries


# -- measuring -----------------------------------------------------------------------


def timed(calls: Sequence[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Seconds of each call, and what it returned."""
    seconds, results = [], []
    for call in calls:
        began = time.perf_counter()
        results.append(call())
        seconds.append(time.perf_counter() - began)
    return seconds, results


def interleaved(
    paths: Mapping[str, Callable[[Query], Any]], queries: Sequence[Query]
) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """Time every path on every query, query by query, each query starting with
    the next path in turn: noise from the machine's other work, and the caches one
    path warms for the next, fall on every path alike."""
    names = list(paths)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, list[Any]] = {name: [] for name in names}
    for i, query in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            began = time.perf_counter()
            results[name].append(paths[name](query))
            seconds[name].append(time.perf_counter() - began)
    return seconds, results


def row(label: str, seconds: Sequence[float]) -> dict[str, float]:
    s = latency_summary(seconds)
    print(
        f"{label:<44} {s['p50']:7.2f} {s['p95']:7.2f} {s['p99']:7.2f} "
        f"{s['mean']:7.2f}  n={s['n']}"
    )
    return s


def chunks(first: int, last: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(first, last + 1, size):
        yield start, min(size, last + 1 - start)


def load_average() -> float:
    """The machine's one-minute load average (2 means both cores were busy)."""
    return os.getloadavg()[0]


# -- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engine",
        choices=["tantivy", "elasticsearch"],
        help="tantivy (default), or elasticsearch (with --es-url or --osmem, which "
        "imply it)",
    )
    add_cluster_arguments(parser)
    parser.add_argument("--n", type=int, default=100_000, help="resources to generate")
    parser.add_argument("--requests", type=int, default=2000, help="timed queries")
    parser.add_argument("--warmup", type=int, default=200, help="untimed queries first")
    parser.add_argument(
        "--text-chars", type=int, default=800, help="mean extracted text per resource"
    )
    parser.add_argument("--batch", type=int, default=2000, help="documents per load")
    parser.add_argument(
        "--updates",
        type=int,
        default=20,
        help=f"index deliveries of {UPDATE_BATCH} changed documents to time",
    )
    parser.add_argument("--districts", type=int, default=4)
    parser.add_argument("--schools", type=int, default=10, help="schools per district")
    parser.add_argument(
        "--check",
        type=int,
        default=50,
        help="documents rebuilt with build_document and compared",
    )
    parser.add_argument("--seed", type=int, default=11)
    add_output_arguments(parser)
    args = parser.parse_args()
    clustered = bool(args.es_url or args.osmem)
    if args.engine is None:
        args.engine = "elasticsearch" if clustered else "tantivy"
    if (args.engine == "elasticsearch") != clustered:
        parser.error(
            "--engine elasticsearch needs --es-url URL or --osmem, and they need it"
        )

    with (
        workdir(args.workdir, "kejian-bench-search-", args.keep) as work,
        elasticsearch_cluster(args.es_url, args.osmem) as cluster,
    ):
        if cluster is not None and cluster.problem:
            raise SystemExit(f"cannot measure Elasticsearch: {cluster.problem}")
        run(work, cluster, args)


def run(work: Path, cluster: Cluster | None, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from repo_app.extensions import db
    from repo_app.models import ChapterNode, Organisation
    from repo_app.services.accounts import load_chapters

    engine_name = "tantivy" if cluster is None else f"elasticsearch ({cluster.kind})"
    print(
        f"search benchmark on {engine_name}: {args.n} resources, text "
        f"~{args.text_chars} chars, {args.requests} timed queries after "
        f"{args.warmup} warm-up, every facet counted; load average "
        f"{load_average():.1f} on {os.cpu_count()} cores"
    )
    settings = {"KEJIAN_LOG_LEVEL": "WARNING"}
    if cluster is not None:
        settings |= {
            "KEJIAN_SEARCH_URL": cluster.url,
            "KEJIAN_SEARCH_INDEX": cluster.alias,
        }
    instance = make_instance(work / "instance", **settings)
    app = instance.app()
    seeded = seed_city(app, args.districts, args.schools)
    rt = app.extensions["kejian"]

    with app.app_context():
        load_chapters()
        db.session.commit()
        chapters = [
            (c.id, c.textbook, c.title)
            for c in db.session.scalars(select(ChapterNode).order_by(ChapterNode.id))
        ]
        orgs: dict[str, Org] = {}
        for o in db.session.scalars(select(Organisation)):
            orgs[o.code] = Org(
                o.id,
                o.code,
                o.name,
                o.kind.value,
                o.locality.value if o.locality else None,
                o.parent.code if o.parent else None,
            )
    corpus = Corpus(
        rt.vocab, orgs, chapters, seeded.uploader_id, args.text_chars, args.seed
    )

    loading = load(app, corpus, args)
    loading |= updates(app, corpus, args)
    check_documents(app, loading.pop("kept"))
    figures = measure(
        app, instance, seeded.token, corpus, args, embedded=cluster is None
    )

    rt.engine.close()
    result = {
        "engine": engine_name,
        "n": args.n,
        **loading,
        **figures,
        "load_average": round(load_average(), 1),
    }
    write_result(args.json_out, result)


def load(app: Any, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """Insert the rows and load the documents into a new index through
    :meth:`SearchEngine.rebuild`; print and return the throughputs."""
    from sqlalchemy import insert

    from repo_app.extensions import db
    from repo_app.models import (
        FileObject,
        Resource,
        ResourceChapter,
        ResourceVersion,
        VersionFile,
    )

    engine = app.extensions["kejian"].engine
    rng = random.Random(args.seed + 1)
    check_ids = set(rng.sample(range(1, args.n + 1), min(args.check, args.n)))
    kept: dict[str, dict[str, Any]] = {}
    spent = {"generate": 0.0, "database": 0.0, "index": 0.0}
    chars = 0
    next_report = max(args.n // 5, 1)
    began = time.perf_counter()
    with engine.rebuild() as rebuild:
        for first, count in chunks(1, args.n, args.batch):
            t0 = time.perf_counter()
            batch = corpus.make(first, count)
            t1 = time.perf_counter()
            with app.app_context(), db.engine.begin() as conn:
                conn.execute(insert(Resource.__table__), batch.resources)
                conn.execute(insert(FileObject.__table__), batch.blobs)
                conn.execute(insert(ResourceVersion.__table__), batch.versions)
                conn.execute(insert(VersionFile.__table__), batch.files)
                if batch.chapters:
                    conn.execute(insert(ResourceChapter.__table__), batch.chapters)
            t2 = time.perf_counter()
            rebuild.index(batch.documents)
            t3 = time.perf_counter()
            spent["generate"] += t1 - t0
            spent["database"] += t2 - t1
            spent["index"] += t3 - t2
            chars += sum(len(d["text"]) for d in batch.documents)
            kept.update(
                (d["id"], d) for d in batch.documents if int(d["id"]) in check_ids
            )
            done = first + count - 1
            if done >= next_report or done == args.n:
                next_report += max(args.n // 5, 1)
                print(
                    f"  {done:>7} resources  {time.perf_counter() - began:6.1f} s  "
                    f"(last batch loaded at {count / (t3 - t2):6.0f} docs/s)"
                )
        t0 = time.perf_counter()
        rebuild.commit()
        spent["index"] += time.perf_counter() - t0
    total = time.perf_counter() - began
    index_rate = args.n / spent["index"]
    print(
        f"generation: documents {args.n / spent['generate']:8.0f} docs/s, "
        f"database insert {args.n / spent['database']:8.0f} resources/s "
        f"(4-5 rows each), engine load (rebuild, commit included) {index_rate:8.0f} "
        f"docs/s ({chars / spent['index'] / 1e6:.2f} M text chars/s); "
        f"{total:.1f} s in all"
    )
    home = Path(app.extensions["kejian"].settings.home)
    index_mb = dir_size(home / "index") / 1e6
    print(
        f"database and files {dir_size(home) / 1e6 - index_mb:.0f} MB"
        + (f", embedded index {index_mb:.0f} MB" if index_mb else "")
    )
    return {"index_docs_s": round(index_rate), "kept": kept}


def updates(app: Any, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """Time ``--updates`` index deliveries of changed documents, each replacing
    :data:`UPDATE_BATCH` existing ones (new generated content, same ids), visible
    to searches when the call returns."""
    if args.updates <= 0:
        return {}
    engine = app.extensions["kejian"].engine
    rng = random.Random(args.seed + 3)
    batches = []
    for _ in range(args.updates):
        first = rng.randint(1, max(args.n - UPDATE_BATCH, 1))
        count = min(UPDATE_BATCH, args.n - first + 1)
        # Generated again: new text and metadata under ids that exist.
        batches.append(corpus.make(first, count).documents)
    seconds, _ = timed([partial(engine.index, docs) for docs in batches])
    docs = sum(len(b) for b in batches)
    rate = docs / sum(seconds)
    s = latency_summary(seconds)
    print(
        f"live updates: {len(batches)} deliveries of {UPDATE_BATCH} documents by "
        f"engine.index: {rate:.0f} docs/s, one delivery p50 {s['p50']:.0f} ms, "
        f"p95 {s['p95']:.0f} ms"
    )
    return {"update_docs_s": round(rate), "update_delivery": s}


def check_documents(app: Any, kept: dict[str, dict[str, Any]]) -> None:
    """The generated documents must be what the product would index."""
    from indexer.documents import build_document
    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.security import resource_acl

    vocab = app.extensions["kejian"].vocab
    differences: list[str] = []
    with app.app_context():
        for doc_id, mine in sorted(kept.items()):
            resource = db.session.get(Resource, int(doc_id))
            assert resource is not None, doc_id
            theirs = build_document(resource, vocab, resource_acl(resource))
            for name in sorted(set(mine) | set(theirs)):
                if _normal(mine.get(name)) != _normal(theirs.get(name)):
                    differences.append(
                        f"{doc_id}.{name}: {mine.get(name)!r:.80} != "
                        f"{theirs.get(name)!r:.80}"
                    )
    if differences:
        print("generated documents differ from build_document:")
        print("\n".join(f"  {d}" for d in differences[:20]))
        raise SystemExit(1)
    print(f"{len(kept)} documents rebuilt with build_document: identical")


def measure(
    app: Any,
    instance: Instance,
    token: str,
    corpus: Corpus,
    args: argparse.Namespace,
    *,
    embedded: bool,
) -> dict[str, Any]:
    """Time the queries on every path and the engine's own costs; print the table
    and the goals, and return the figures.

    :param embedded: the engine is the embedded one, which the goal on the time our
        layer adds is about.
    """
    from repo_app.extensions import db
    from repo_app.models import User
    from repo_app.security import Principal

    queries = make_queries(args.warmup + args.requests, corpus, args.seed + 2)
    warm, measured = queries[: args.warmup], queries[args.warmup :]
    with app.app_context():
        user = db.session.scalars(
            db.select(User).where(User.username == UPLOADER)
        ).one()
        token_acl = Principal.for_user(user).acl()

    print()
    print(f"{'latency (ms)':<44} {'p50':>7} {'p95':>7} {'p99':>7} {'mean':>7}")
    figures, answers = time_paths(app, instance, token, token_acl, warm, measured)
    engine = app.extensions["kejian"].engine
    figures |= engine_costs(
        engine, [engine_query(q, token_acl) for q in measured], token_acl, args.seed
    )
    return figures | conclusions(figures, answers, embedded=embedded)


def engine_query(q: Query, token_acl: Sequence[str]) -> SearchQuery:
    """The engine query the service makes of *q*: its access tokens, every facet."""
    from indexer.engines.base import FACET_FIELDS, SearchQuery

    return SearchQuery(
        text=q.text,
        filters=q.filter_map(),
        facets=list(FACET_FIELDS),
        sort=q.sort,
        offset=(q.page - 1) * PER_PAGE,
        limit=PER_PAGE,
        acl=token_acl if q.with_token else ["public"],
    )


def time_paths(
    app: Any,
    instance: Instance,
    token: str,
    token_acl: Sequence[str],
    warm: Sequence[Query],
    measured: Sequence[Query],
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Time the queries on the raw engine, the service, the test client and the
    API, interleaved; then HTTP alone. Return the rows and each path's answers."""
    from repo_app.auth import current_principal
    from repo_app.services import search as search_service

    engine = app.extensions["kejian"].engine
    flask_client = app.test_client()

    def headers(q: Query) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if q.with_token else {}

    def raw(q: Query) -> Any:
        return engine.search(engine_query(q, token_acl))

    def service(q: Query) -> Any:
        with app.test_request_context(q.url(), headers=headers(q)):
            return search_service.search(
                current_principal(),
                text=q.text,
                filters=search_service.parse_filters(q.filter_map()),
                facets=None,
                sort=q.sort,
                page=q.page,
                per_page=PER_PAGE,
            )

    def in_app(q: Query) -> Any:
        return flask_client.get(q.url(), headers=headers(q))

    with Server(instance) as server:
        anonymous = Client(server.port)
        signed_in = Client(server.port, token)

        def api(q: Query) -> Any:
            return (signed_in if q.with_token else anonymous).get(q.url())

        paths = {"raw": raw, "service": service, "in_app": in_app, "api": api}
        interleaved(paths, warm)
        seconds, answers = interleaved(paths, measured)
        failed = [a for a in answers["api"] if a.status != 200]
        failed += [a for a in answers["in_app"] if a.status_code != 200]
        if failed:
            raise SystemExit(f"{len(failed)} searches failed, e.g. {failed[0]!r:.300}")

        # Warm-up calls first, left out of the figures.
        trivial = timed([partial(anonymous.get, "/api/v1/bench-unknown")] * 550)[0]
        health = timed([partial(anonymous.get, "/api/v1/health")] * 550)[0]
        reconnects = anonymous.reconnects + signed_in.reconnects
        anonymous.close()
        signed_in.close()
    if reconnects:
        print(f"({reconnects} reconnects to the server)")

    figures: dict[str, Any] = {
        "raw": row("raw engine, in-process", seconds["raw"]),
        "service": row("search service, in-process (no WSGI)", seconds["service"]),
        "in_app": row("whole app via Flask test client (no HTTP)", seconds["in_app"]),
        "api": row("API GET /api/v1/search over HTTP", seconds["api"]),
    }
    for label, keep in (
        ("anonymous", lambda q: not q.with_token),
        ("with a token", lambda q: q.with_token),
        ("with filters", lambda q: bool(q.filters)),
        ("without filters", lambda q: not q.filters),
    ):
        row(
            f"  of which {label}",
            [s for s, q in zip(seconds["api"], measured, strict=True) if keep(q)],
        )
    figures["trivial"] = row("trivial endpoint over HTTP (404 JSON)", trivial[50:])
    figures["health"] = row("GET /api/v1/health over HTTP", health[50:])
    return figures, answers


def engine_costs(
    engine: Any, built: Sequence[SearchQuery], token_acl: Sequence[str], seed: int
) -> dict[str, Any]:
    """What facets, highlights and words cost the engine, and its suggestions."""
    from indexer.engines.base import SearchQuery

    def engine_row(label: str, queries: Sequence[SearchQuery]) -> dict[str, float]:
        for query in queries[:100]:
            engine.search(query)
        return row(label, timed([partial(engine.search, q) for q in queries])[0])

    figures = {
        "raw_no_facets": engine_row(
            "raw engine, no facets", [replace(q, facets=()) for q in built]
        ),
        "raw_text_only": engine_row(
            "raw engine, words only",
            [SearchQuery(text=q.text, acl=q.acl, highlight=False) for q in built],
        ),
        "raw_browse": engine_row(
            "raw engine, browsing: no words, every facet",
            [SearchQuery(text="", facets=q.facets, acl=q.acl) for q in built[:500]],
        ),
    }
    rng = random.Random(seed + 4)
    prefixes = [
        (rng.choice(PREFIXES), rng.choice((["public"], token_acl))) for _ in range(550)
    ]
    suggested = timed([partial(engine.suggest, p, a) for p, a in prefixes])[0]
    figures["suggest"] = row("raw engine, title suggestions", suggested[50:])
    return figures


def conclusions(
    figures: dict[str, Any], answers: dict[str, list[Any]], *, embedded: bool
) -> dict[str, Any]:
    """Print what our layer adds, where it goes, and the goals; return them."""
    raw, service, in_app, api = (
        figures[k] for k in ("raw", "service", "in_app", "api")
    )
    added50, added95 = api["p50"] - raw["p50"], api["p95"] - raw["p95"]
    print(
        f"added by our layer (API - raw engine): p50 {added50:.2f} ms, "
        f"p95 {added95:.2f} ms"
    )
    print(
        f"  at p50: service above the engine {service['p50'] - raw['p50']:.2f} ms "
        f"(token, hit rows, facet labels); view and response "
        f"serialisation {in_app['p50'] - service['p50']:.2f} ms (test client - "
        f"service); HTTP and gunicorn {api['p50'] - in_app['p50']:.2f} ms (a trivial "
        f"endpoint takes {figures['trivial']['p50']:.2f} ms)"
    )
    hits = [r.total for r in answers["raw"]]
    http_totals = [json.loads(a.body)["total"] for a in answers["api"]]
    mismatched = sum(1 for a, b in zip(http_totals, hits, strict=True) if a != b)
    print(
        f"matches per query: median {sorted(hits)[len(hits) // 2]}, max {max(hits)}; "
        f"API totals equal to the engine's in {len(hits) - mismatched}/{len(hits)} "
        f"queries; load average {load_average():.1f}"
    )
    api_met = api["p95"] < API_P95_GOAL_MS
    added_met = added95 < ADDED_P95_GOAL_MS
    print(
        f"goal API p95 < {API_P95_GOAL_MS:.0f} ms: {verdict(api_met)} "
        f"({api['p95']:.2f} ms)"
    )
    if embedded:
        print(
            f"goal our layer adds < {ADDED_P95_GOAL_MS:.0f} ms at p95: "
            f"{verdict(added_met)} ({added95:.2f} ms)"
        )
    return {
        "added_p50_ms": round(added50, 2),
        "added_p95_ms": round(added95, 2),
        "api_goal_met": api_met,
        "added_goal_met": added_met,
        "totals_mismatched": mismatched,
    }


def _normal(value: Any) -> Any:
    """Datetimes compared in UTC (SQLite hands them back without a zone)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return value


if __name__ == "__main__":
    main()
