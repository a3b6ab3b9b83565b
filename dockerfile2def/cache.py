"""d2s's folder for things it makes once and reuses between runs: registry configs (registry.py) and
grammar tables (generated.py).

``$D2S_CACHE_DIR``, else ``$XDG_CACHE_HOME/d2s``, else ``~/.cache/d2s``. Nothing in it is needed: a
missing or read-only folder only makes d2s slower.
"""

import os
from typing import Optional, Union


def cache_folder() -> Optional[str]:
    """The cache folder, created if need be; None when it cannot be written."""
    folder = os.environ.get("D2S_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "d2s")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def write_atomic(path: str, content: Union[str, bytes]) -> None:
    """Write ``content`` under a temporary name and rename it: a concurrent run never reads half a file."""
    temporary = "%s.%d.tmp" % (path, os.getpid())
    try:
        if isinstance(content, bytes):
            with open(temporary, "wb") as handle:
                handle.write(content)
        else:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(content)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
