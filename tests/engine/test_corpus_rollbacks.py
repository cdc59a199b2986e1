"""Generated rollbacks on real Prisma histories: ``bench/corpus.py`` applies each migration
from its predecessor's state, rolls it back and compares the schemas; none may be silently
wrong (run without error or warning and leave a different schema).

The histories are those of ``shared/corpora`` beside the repository (or beside the main
checkout of a worktree); without them the test is skipped, saying so. It runs the first
migrations of each (~1 min); ``bench/corpus.py`` runs them whole (~10 min).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import POSTGRES_SKIP_REASON
from tests.settings import POSTGRES_URL
from tests.utils import SHARED

ROOT = Path(__file__).resolve().parents[2]
FIRST_MIGRATIONS = 12


def test_no_generated_rollback_is_silently_wrong_on_real_histories(tmp_path):
    shared = SHARED
    if shared is None or not (shared / "corpora").is_dir():
        pytest.skip("no shared/corpora here (the real Prisma histories; CI has them)")
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    corpora = sorted(path for path in (shared / "corpora").iterdir() if path.is_dir())
    server = urlunsplit(urlsplit(POSTGRES_URL)._replace(path="", query=""))
    report = tmp_path / "corpus.json"

    options = ["--server", server, "--limit", str(FIRST_MIGRATIONS), "--json", str(report)]
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "corpus.py"), *map(str, corpora), *options],
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = [
        outcome for corpus in json.loads(report.read_text()) for outcome in corpus["outcomes"]
    ]
    assert len(outcomes) >= len(corpora) * min(FIRST_MIGRATIONS, 10)
    silently_wrong = [o["migration"] for o in outcomes if o["category"] == "silently wrong"]
    assert silently_wrong == [], run.stdout
    for corpus in json.loads(report.read_text()):
        assert corpus["one_plan_schema_identical"], corpus["corpus"]
