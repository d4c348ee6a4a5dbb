"""``bench/search.py`` keeps measuring what the product does.

The benchmark builds its search documents itself, in bulk, and checks a sample of
them against :func:`indexer.documents.build_document`; when the product's documents
change and the benchmark's do not, it stops before measuring anything. Run at a
toy size here so that such a drift fails the suite rather than the next person who
measures. Nothing here looks at the figures: tests never time things.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_search_benchmark_runs_on_documents_like_the_products(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "search.py"),
            "--n", "400",
            "--batch", "200",
            "--updates", "1",
            "--check", "40",
            "--warmup", "5",
            "--requests", "20",
            "--workdir", str(tmp_path / "work"),
            "--json-out", str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "40 documents rebuilt with build_document: identical" in done.stdout
    result = json.loads(figures.read_text(encoding="utf-8"))
    assert result["n"] == 400
    # Every search over HTTP answered with the engine's own total.
    assert result["totals_mismatched"] == 0
