"""Throughput of ``kejian import`` on the real corpus, against reading and hashing it.

On a fresh instance (embedded defaults), in the same run:

- baseline: read every file of the corpus and compute its SHA-256 (page cache warm),
  which is the least an import has to do, and the start-up time of the ``kejian``
  command (``kejian org list``), which every import pays once;
- ``kejian import CORPUS --org bench-s1 --json``, timed from outside (start-up
  included) and by the command itself (its ``seconds`` field);
- the same command again, which must import nothing (every file is already there);
- with ``--per-file``, an in-process import on a third instance that times each
  file, to name the slowest ones.

    .venv/bin/python bench/import_corpus.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    SCHOOL,
    Instance,
    add_corpus_argument,
    add_output_arguments,
    kejian,
    make_instance,
    seed_city,
    workdir,
    write_result,
)


def corpus_files(root: Path) -> list[Path]:
    """Regular files under *root*, hidden ones left out (as ``kejian import`` does)."""
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not path.is_symlink()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]


def hash_all(files: list[Path]) -> float:
    """Seconds to read every file in 1 MiB blocks and hash it."""
    began = time.perf_counter()
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(MIB):
                digest.update(block)
        digest.hexdigest()
    return time.perf_counter() - began


def timed_import(instance: Instance, corpus: Path) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    done = kejian(
        instance, "import", str(corpus), "--org", SCHOOL, "--json", timeout=900
    )
    wall = time.perf_counter() - began
    return wall, json.loads(done.stdout)


@dataclass
class PerFile:
    """Where an in-process import spent its time."""

    #: (seconds, file) for each file, index deliveries left out; slowest first.
    files: list[tuple[float, str]]
    #: Seconds of each index delivery (every 25 files and one at the end).
    deliveries: list[float]


def per_file_times(work: Path, corpus: Path) -> PerFile:
    """Time each file of an in-process import on a new instance.

    The import hands its index changes to the engine every 25 files; those
    deliveries are timed apart (by wrapping ``indexing.after_commit`` in this
    process) so that they are not charged to the file that happened to trigger them.
    """
    instance = make_instance(work / "instance-per-file", KEJIAN_LOG_LEVEL="WARNING")
    app = instance.app()
    seed_city(app)
    spans: list[tuple[float, str]] = []
    deliveries: list[float] = []
    with app.app_context():
        from repo_app.models import Visibility
        from repo_app.services import indexing
        from repo_app.services.accounts import org_by_code
        from repo_app.services.importer import run_import

        deliver = indexing.after_commit

        def timed_delivery() -> None:
            began = time.perf_counter()
            deliver()
            deliveries.append(time.perf_counter() - began)

        last = time.perf_counter()
        delivered = 0.0

        def tick(name: str) -> None:
            nonlocal last, delivered
            now = time.perf_counter()
            spans.append((now - last - (sum(deliveries) - delivered), name))
            last, delivered = now, sum(deliveries)

        indexing.after_commit = timed_delivery  # type: ignore[assignment]
        try:
            run_import(
                [corpus],
                org_by_code(SCHOOL),
                visibility=Visibility.SCHOOL,
                progress=tick,
            )
        finally:
            indexing.after_commit = deliver  # type: ignore[assignment]
    return PerFile(sorted(spans, reverse=True), deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_argument(parser, "folder to import")
    parser.add_argument(
        "--per-file",
        action="store_true",
        help="also time each file in an in-process import",
    )
    add_output_arguments(parser)
    args = parser.parse_args()

    with workdir(args.workdir, "kejian-bench-import-", args.keep) as work:
        run(work, args.corpus, args.per_file, args.json_out)


def run(work: Path, corpus: Path, per_file: bool, json_out: Path | None) -> None:
    files = corpus_files(corpus)
    total_bytes = sum(path.stat().st_size for path in files)
    mb = total_bytes / MIB
    print(f"import benchmark: {corpus} ({len(files)} files, {mb:.1f} MB)")

    # Baselines: warm the page cache once, then keep the best of three.
    hash_all(files)
    hash_seconds = min(hash_all(files) for _ in range(3))

    instance = make_instance(work / "instance")
    seed_city(instance.app())
    startup_runs = []
    for _ in range(3):
        began = time.perf_counter()
        kejian(instance, "org", "list", "--json")
        startup_runs.append(time.perf_counter() - began)
    startup = min(startup_runs)

    first_wall, first = timed_import(instance, corpus)
    second_wall, second = timed_import(instance, corpus)
    counts, again = first["counts"], second["counts"]
    handled = sum(counts.values())

    print()
    print(
        f"baseline read + sha256   {len(files) / hash_seconds:9.0f} files/s "
        f"{mb / hash_seconds:8.1f} MB/s  {hash_seconds:7.3f} s"
    )
    print(f"baseline kejian start-up {startup:7.2f} s  (kejian org list, best of 3)")
    print(
        f"import (first run)       {handled / first_wall:9.1f} files/s "
        f"{mb / first_wall:8.2f} MB/s  {first_wall:7.2f} s wall, "
        f"{first['seconds']:.2f} s inside the command"
    )
    print(
        f"ratio import/baseline time x{first_wall / hash_seconds:.0f} "
        f"(x{first['seconds'] / hash_seconds:.0f} without start-up); the import "
        f"reaches {hash_seconds / first_wall * 100:.2f} % of read + hash throughput"
    )
    print(
        f"import (second run)      {second_wall:7.2f} s wall, {second['seconds']:.2f} s "
        f"inside: imported {again['imported']}, already imported "
        f"{again['already_imported']}, duplicates {again['duplicates']}"
    )
    print(
        f"first run: imported {counts['imported']}, duplicates {counts['duplicates']}, "
        f"rejected {counts['rejected']}, already imported {counts['already_imported']} "
        f"({handled} of {len(files)} files accounted for)"
    )
    kinds = collections.Counter(item.get("kind", "?") for item in first["imported"])
    print("imported by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    extraction = collections.Counter(
        item.get("extraction", "?") for item in first["imported"]
    )
    print("extraction: " + ", ".join(f"{k} {n}" for k, n in extraction.most_common()))
    problems = []
    if again["imported"] or again["rejected"]:
        problems.append("the second run imported or rejected files again")
    if handled != len(files):
        problems.append(f"{len(files) - handled} files missing from the summary")
    for item in first["rejected"]:
        reason = item.get("reason", "?")
        print(f"  rejected {Path(item['path']).relative_to(corpus)}: {reason:.100}")
    for problem in problems:
        print(f"PROBLEM: {problem}")

    slowest: list[tuple[float, str]] = []
    if per_file:
        timing = per_file_times(work, corpus)
        slowest = timing.files
        spent = sum(s for s, _ in slowest) + sum(timing.deliveries)
        print(
            f"per-file (in-process import, {spent:.2f} s in all): index delivery "
            f"{len(timing.deliveries)} times, {sum(timing.deliveries):.2f} s "
            f"(longest {max(timing.deliveries):.2f} s); slowest files:"
        )
        for seconds, name in slowest[:8]:
            print(f"  {seconds:7.3f} s  {seconds / spent * 100:5.1f} %  {name}")

    write_result(
        json_out,
        {
            "files": len(files),
            "mb": round(mb, 2),
            "import_files_s": round(handled / first_wall, 2),
            "import_mb_s": round(mb / first_wall, 3),
            "import_seconds": round(first_wall, 2),
            "import_seconds_inside": first["seconds"],
            "second_run_seconds": round(second_wall, 2),
            "baseline_hash_seconds": round(hash_seconds, 4),
            "startup_seconds": round(startup, 2),
            "ratio_import_baseline": round(first_wall / hash_seconds, 1),
            "slowest": [[round(s, 2), n] for s, n in slowest[:5]],
            "problems": problems,
        },
    )


if __name__ == "__main__":
    main()
