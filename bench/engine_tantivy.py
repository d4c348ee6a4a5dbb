"""Benchmark of the embedded search engine on generated courseware documents.

Builds an index of ``--n`` mixed Chinese/English documents with random facets and
access tokens, then times a mix of queries (Chinese words and phrases, English words,
synonyms, filters, sorts, facet counts, highlights) and completions. Latencies depend
on the machine, so each is also printed as a ratio to a baseline timed in the same
run: a query without words that counts the same facets over every visible document.

    .venv/bin/python bench/engine_tantivy.py --n 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.engines.base import SearchQuery
from indexer.engines.tantivy_engine import TantivyEngine

ZH_WORDS = [
    "数学",
    "语文",
    "英语",
    "物理",
    "化学",
    "生物",
    "历史",
    "地理",
    "方程",
    "函数",
    "几何",
    "三角形",
    "勾股定理",
    "二次函数",
    "一元二次方程",
    "分数",
    "小数",
    "百分数",
    "概率",
    "统计",
    "古诗",
    "文言文",
    "阅读理解",
    "作文",
    "写作",
    "拼音",
    "识字",
    "单词",
    "语法",
    "听力",
    "口语",
    "力学",
    "电路",
    "光的折射",
    "浮力",
    "压强",
    "化学反应",
    "元素周期表",
    "酸碱盐",
    "细胞",
    "遗传",
    "生态系统",
    "光合作用",
    "朝代",
    "近代史",
    "地图",
    "气候",
    "河流",
    "课件",
    "教案",
    "习题",
    "试卷",
    "微课",
    "复习",
    "预习",
    "单元",
    "期中",
    "期末",
    "练习",
    "实验",
    "探究",
    "知识点",
    "教学设计",
    "学案",
    "导学",
    "课堂",
    "同步",
    "专题",
]
ZH_GLUE = ["的", "与", "和", "在", "中", "是", "了", "及", "之", "对", "从"]
EN_WORDS = [
    "math",
    "algebra",
    "geometry",
    "function",
    "equation",
    "fraction",
    "reading",
    "writing",
    "grammar",
    "vocabulary",
    "physics",
    "force",
    "energy",
    "circuit",
    "chemistry",
    "reaction",
    "element",
    "biology",
    "cell",
    "history",
    "geography",
    "climate",
    "lesson",
    "plan",
    "worksheet",
    "exam",
    "review",
    "unit",
    "chapter",
    "slides",
    "practice",
    "experiment",
    "quiz",
    "homework",
    "project",
    "introduction",
    "summary",
]

FACETS = {
    "stage": ["primary", "junior", "senior"],
    "grade": [f"g{i}" for i in range(1, 13)],
    "subject": [
        "math",
        "chinese",
        "english",
        "physics",
        "chemistry",
        "biology",
        "history",
        "geography",
        "politics",
        "music",
        "art",
        "pe",
    ],
    "edition": ["pep", "bnu", "jiangsu", "zhejiang", "shanghai"],
    "volume": ["v1", "v2"],
    "resource_type": ["slides", "lesson_plan", "exercise", "exam", "video", "other"],
    "licence": ["cc-by", "cc-by-sa", "cc-by-nc", "all-rights"],
    "language": ["zh", "en"],
    "locality": ["urban", "rural"],
}
SCHOOLS = [f"s{i}" for i in range(200)]
CHAPTERS = [f"ch{i}" for i in range(600)]
MIME = ["pdf", "document", "presentation", "video", "image"]
COUNTED = ["subject", "grade", "resource_type", "chapter", "school"]

QUERIES = [
    "数学",
    "方程",
    "二次函数",
    "勾股定理",
    "光合作用",
    "电路",
    "古诗",
    "复习",
    "试卷",
    "课件",
    "教案",
    "一元二次方程 课件",
    "期末 复习 数学",
    "化学反应 实验",
    "math",
    "physics lesson",
    "worksheet",
    "equation review",
    "history exam",
    "mathematics slides",
    "光的折射 ppt",
    "细胞 biology",
    "作文 写作",
    "微课",
    "二次函数 xyzzy",
    "阅读理解 练习",
    "元素周期表",
    "函数图像",
]
PREFIXES = ["sx", "shu", "数学", "fc", "er", "gg", "phy", "化学", "ks", "ch"]


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    """Filler words: 30,000 Chinese-like words of 2-3 common characters and 5,000
    Latin-like words, so that query words hit a few percent of documents, not all."""
    chars = [chr(code) for code in range(0x4E00, 0x4E00 + 3500)]
    zh = ["".join(rng.choices(chars, k=rng.choice((2, 2, 3)))) for _ in range(30_000)]
    letters = "abcdefghijklmnoprstuvwy"
    en = ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(5_000)]
    return zh, en


def sentence_pool(rng: random.Random, size: int = 20_000) -> list[str]:
    """Sentences of filler words (Zipf-like: early words are common), one in ten with
    a topic word that queries look for."""
    zh, en = vocabulary(rng)
    cumulative_zh = list(
        itertools.accumulate(1 / (rank + 1) for rank in range(len(zh)))
    )
    cumulative_en = list(
        itertools.accumulate(1 / (rank + 1) for rank in range(len(en)))
    )
    pool = []
    for _ in range(size):
        if rng.random() < 0.8:
            words = rng.choices(zh, cum_weights=cumulative_zh, k=rng.randint(4, 10))
            if rng.random() < 0.1:
                words.insert(rng.randrange(len(words)), rng.choice(ZH_WORDS))
            pool.append("".join(words) + rng.choice("，。；"))
        else:
            words = rng.choices(en, cum_weights=cumulative_en, k=rng.randint(6, 14))
            if rng.random() < 0.1:
                words.insert(rng.randrange(len(words)), rng.choice(EN_WORDS))
            pool.append(" ".join(words).capitalize() + ". ")
    return pool


def documents(n: int, text_chars: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    pool = sentence_pool(rng)
    fillers = vocabulary(rng)[0][:2000]
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for i in range(n):
        title_words = [
            rng.choice(ZH_WORDS) if rng.random() < 0.4 else rng.choice(fillers)
            for _ in range(rng.randint(2, 4))
        ]
        if rng.random() < 0.2:
            title_words.append(rng.choice(EN_WORDS))
        text: list[str] = []
        target = rng.randint(text_chars // 2, text_chars * 3 // 2)
        while sum(map(len, text)) < target:
            text.append(rng.choice(pool))
        school = rng.choice(SCHOOLS)
        acl = (
            ["public"] if rng.random() < 0.8 else [f"org:{school}", f"manage:{school}"]
        )
        doc: dict[str, Any] = {
            "id": str(i),
            "title": " ".join(title_words),
            "description": "".join(rng.choice(pool) for _ in range(2)),
            "keywords": [rng.choice(ZH_WORDS), rng.choice(fillers)],
            "labels": [rng.choice(fillers), rng.choice(EN_WORDS)],
            "text": "".join(text),
            "chapter": rng.sample(CHAPTERS, rng.randint(1, 3)),
            "school": school,
            "district": f"d{int(school[1:]) % 12}",
            "owner_org": school,
            "mime_group": rng.sample(MIME, rng.randint(1, 2)),
            "acl": acl,
            "status": "published",
            "visibility": "public" if acl == ["public"] else "org",
            "created_at": start + dt.timedelta(minutes=rng.randint(0, 2_000_000)),
            "updated_at": start + dt.timedelta(minutes=rng.randint(0, 2_000_000)),
            "downloads": int(rng.paretovariate(1.2)),
        }
        for name, values in FACETS.items():
            doc[name] = rng.choice(values)
        yield doc


def batches(
    items: Iterator[dict[str, Any]], size: int
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def mixed_queries(count: int, seed: int) -> list[SearchQuery]:
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        filters: dict[str, list[str]] = {}
        if rng.random() < 0.5:
            filters["subject"] = rng.sample(FACETS["subject"], rng.randint(1, 2))
        if rng.random() < 0.3:
            filters["grade"] = [rng.choice(FACETS["grade"])]
        school = rng.choice(SCHOOLS)
        queries.append(
            SearchQuery(
                text=rng.choice(QUERIES),
                filters=filters,
                facets=COUNTED,
                sort=rng.choices(["relevance", "newest", "popular"], [8, 1, 1])[0],
                offset=rng.choice([0, 0, 0, 20]),
                limit=20,
                acl=["public", f"org:{school}"],
            )
        )
    return queries


def timed(calls: list[Callable[[], object]]) -> list[float]:
    """Milliseconds of each call."""
    spent = []
    for call in calls:
        began = time.perf_counter()
        call()
        spent.append((time.perf_counter() - began) * 1000)
    return spent


def summary(label: str, millis: list[float], baseline: float | None = None) -> float:
    cuts = statistics.quantiles(millis, n=100)
    p50, p95, p99 = statistics.median(millis), cuts[94], cuts[98]
    ratio = f"  x{p50 / baseline:.2f} baseline p50" if baseline else ""
    print(f"{label:<34} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms{ratio}")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="documents to index")
    parser.add_argument("--text-chars", type=int, default=1500, help="mean text length")
    parser.add_argument("--batch", type=int, default=2000, help="documents per index()")
    parser.add_argument("--queries", type=int, default=2000, help="mixed queries timed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the index here and keep it")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="kejian-bench-"))
    engine = TantivyEngine(workdir / "index", writer_heap=128_000_000)
    print(f"engine tantivy  n={args.n}  text~{args.text_chars} chars  path={workdir}")

    # Indexing: analysis in Python plus tantivy commits, one per batch.
    began = time.perf_counter()
    chars = 0
    for batch in batches(documents(args.n, args.text_chars, args.seed), args.batch):
        chars += sum(len(doc["text"]) for doc in batch)
        engine.index(batch)
    spent = time.perf_counter() - began
    size = sum(f.stat().st_size for f in (workdir / "index").iterdir() if f.is_file())
    print(
        f"index   {args.n / spent:8.0f} docs/s  {chars / spent / 1e6:5.2f} M chars/s  "
        f"{spent:6.1f} s total  {size / 1e6:7.1f} MB on disk"
    )

    queries = mixed_queries(args.queries, args.seed)
    browse = [
        SearchQuery(text="", facets=COUNTED, acl=q.acl, limit=20) for q in queries[:500]
    ]
    # Warm the page cache and the reader before timing.
    for query in queries[:200] + browse[:50]:
        engine.search(query)

    baseline = summary(
        "baseline: all docs + 5 facets",
        timed([partial(engine.search, q) for q in browse]),
    )
    summary(
        "mixed queries + 5 facets",
        timed([partial(engine.search, q) for q in queries]),
        baseline,
    )

    no_facets = [replace(q, facets=()) for q in queries]
    summary(
        "mixed queries, no facets",
        timed([partial(engine.search, q) for q in no_facets]),
        baseline,
    )

    plain = [
        SearchQuery(text=q.text, acl=q.acl, highlight=False, limit=20) for q in queries
    ]
    summary(
        "text only, no highlight/facets",
        timed([partial(engine.search, q) for q in plain]),
        baseline,
    )

    totals = [
        engine.search(SearchQuery(text=text, limit=0, acl=["public"])).total
        for text in QUERIES
    ]
    print(f"mean hits per query word (public): {statistics.mean(totals):.0f}")

    rng = random.Random(args.seed)
    completions = [rng.choice(PREFIXES) for _ in range(500)]
    summary(
        "suggest",
        timed([partial(engine.suggest, p, ["public"]) for p in completions]),
        baseline,
    )

    engine.close()
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
