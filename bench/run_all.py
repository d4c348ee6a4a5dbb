"""Run the benchmarks one after another with modest sizes and print a summary.

Each benchmark runs in its own process (with a time limit), prints its own report as
it goes, and leaves its key figures in a JSON file that the summary is read from.
The sizes here keep the whole run to a few minutes; run a script on its own for the
figures of the README (``bench/README.md`` gives the commands).

    .venv/bin/python bench/run_all.py [--full]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: (name, script, modest arguments, full-size arguments, time limit in seconds)
BENCHMARKS = [
    ("upload", "upload.py", ["--mb", "256"], ["--mb", "1024"], 360),
    ("import", "import_corpus.py", [], ["--per-file"], 360),
    (
        "search",
        "search.py",
        ["--n", "20000", "--requests", "1000"],
        ["--n", "100000"],
        600,
    ),
    ("relevance", "relevance.py", [], ["--osmem"], 420),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full",
        action="store_true",
        help="the README's sizes (1 GiB upload, 100,000 resources) and relevance "
        "on Elasticsearch (osmem-server) too",
    )
    parser.add_argument(
        "--only",
        choices=[b[0] for b in BENCHMARKS],
        action="append",
        help="run only this benchmark (repeatable)",
    )
    args = parser.parse_args()

    results: dict[str, dict[str, Any] | None] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kejian-bench-all-") as tmp:
        for name, script, modest, full, limit in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            out = Path(tmp) / f"{name}.json"
            command = [
                sys.executable,
                str(HERE / script),
                *(full if args.full else modest),
                "--json-out",
                str(out),
            ]
            print(f"=== {name}: {' '.join(command[1:])}", flush=True)
            began = time.monotonic()
            try:
                done = subprocess.run(command, timeout=limit, check=False)
                status = done.returncode
            except subprocess.TimeoutExpired:
                status = -1
                failures.append(f"{name}: over its time limit of {limit} s")
            if status > 0:
                failures.append(f"{name}: exited with status {status}")
            results[name] = json.loads(out.read_text()) if out.exists() else None
            print(f"=== {name} took {time.monotonic() - began:.0f} s\n", flush=True)

    print("=== summary")
    upload = results.get("upload")
    if upload:
        print(
            f"upload  {upload['mb']:.0f} MB: {upload['upload_mb_s']} MB/s vs cp "
            f"{upload['cp_mb_s']} MB/s (ratio {upload['ratio_upload_cp']}); minimal "
            f"gunicorn receiver {upload['minimal_receiver_mb_s']} MB/s; server RSS "
            f"growth {upload['rss_growth_mib']} MiB (goal < 64: "
            f"{'met' if upload['rss_goal_met'] else 'NOT met'}); object verified: "
            f"{upload['verified']}"
        )
    imported = results.get("import")
    if imported:
        print(
            f"import  {imported['files']} files, {imported['mb']} MB: "
            f"{imported['import_files_s']} files/s, {imported['import_mb_s']} MB/s "
            f"({imported['import_seconds']} s wall, start-up "
            f"{imported['startup_seconds']} s); read + sha256 baseline "
            f"{imported['baseline_hash_seconds']} s (x{imported['ratio_import_baseline']}); "
            f"second run {imported['second_run_seconds']} s"
        )
    search = results.get("search")
    if search:
        print(
            f"search  {search['n']} resources, loaded at {search['index_docs_s']} "
            f"docs/s, updated at {search.get('update_docs_s', '-')} docs/s: API "
            f"p50/p95 {search['api']['p50']:.1f}/{search['api']['p95']:.1f} "
            f"ms, raw engine {search['raw']['p50']:.1f}/{search['raw']['p95']:.1f} ms, "
            f"added {search['added_p50_ms']}/{search['added_p95_ms']} ms, trivial "
            f"endpoint {search['trivial']['p50']:.1f}/{search['trivial']['p95']:.1f} ms; "
            f"goals: API p95 < 20 ms {'met' if search['api_goal_met'] else 'NOT met'}, "
            f"added < 5 ms {'met' if search['added_goal_met'] else 'NOT met'}"
        )
    relevance = results.get("relevance")
    for engine, figures in (relevance or {}).get("engines", {}).items():
        if "skipped" in figures:
            print(f"relevance {engine}: skipped, {figures['skipped']}")
            continue
        line = ", ".join(
            f"{group} {figures[group]['ndcg10']:.3f}/{figures[group]['mrr10']:.3f}"
            for group in ("all", "Chinese", "English/mixed")
        )
        print(f"relevance {engine}: nDCG@10/MRR@10 {line}")
    for failure in failures:
        print(f"FAILED {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
