"""Where the shared reference material lives: ../shared beside the repository, or $D2S_SHARED."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("D2S_SHARED") or REPO.parent / "shared")
CORPUS = SHARED / "corpus"


def corpus_files():
    """Every real-world Dockerfile of the corpus; CI always has them, so their absence is a failure."""
    files = sorted((CORPUS / "files").iterdir()) if (CORPUS / "files").is_dir() else []
    assert files, "the corpus is missing: expected Dockerfiles in %s" % (CORPUS / "files")
    return files
