"""ADD <url>: download the file when converting, into the build context, as BuildKit would fetch it.

The file lands in ``<context>/.d2s-downloads/<key>/<name>`` (``key`` from the URL), where the
definition's %setup copies it from: the build host needs neither network nor curl. The mtime is the
server's ``Last-Modified`` (BuildKit's rule; mode 0600 is set when staging). A later conversion asks
the server whether the file changed (``If-None-Match``/``If-Modified-Since``) and re-downloads only
then. ``--checksum`` is verified here. A download is written to a temporary file and renamed, so an
interrupted one leaves nothing half-written under its final name.
"""

import email.utils
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from typing import Optional

FOLDER = ".d2s-downloads"
TIMEOUT = 30.0
_CHUNK = 1 << 20


class DownloadError(Exception):
    """The URL could not be fetched (network, HTTP status): the caller may fall back."""


class ChecksumError(Exception):
    """The file was fetched but its digest is not the one --checksum names: the build must fail."""


def fetch(url: str, context_dir: str, name: str, checksum: Optional[str] = None) -> str:
    """Download ``url`` (or reuse an unchanged earlier download); the file's path relative to the context."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
    folder = os.path.join(context_dir, FOLDER, key)
    target = os.path.join(folder, name)
    meta_path = os.path.join(folder, ".meta.json")
    meta = _read_meta(meta_path) if os.path.isfile(target) else {}
    request = urllib.request.Request(url, headers={"User-Agent": "d2s"})
    if meta.get("url") == url:
        if meta.get("etag"):
            request.add_header("If-None-Match", meta["etag"])
        if meta.get("last_modified"):
            request.add_header("If-Modified-Since", meta["last_modified"])
    os.makedirs(folder, exist_ok=True)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            handle, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")
            try:
                with os.fdopen(handle, "wb") as out:
                    shutil.copyfileobj(response, out, _CHUNK)
                headers = response.headers
                modified = headers.get("Last-Modified")
                _set_mtime(partial, modified)
                os.replace(partial, target)
            except BaseException:
                _remove(partial)
                raise
        meta = {"url": url, "etag": headers.get("ETag"), "last_modified": modified}
        with open(meta_path, "w", encoding="utf-8") as out:
            json.dump(meta, out)
    except urllib.error.HTTPError as err:
        if err.code != 304:
            raise DownloadError("HTTP %d %s" % (err.code, err.reason)) from None
    except (OSError, ValueError) as err:  # URLError, timeouts, refused connections, bad URLs
        raise DownloadError(str(getattr(err, "reason", None) or err)) from None
    if checksum:
        _verify(target, checksum)
    return os.path.relpath(target, context_dir).replace(os.sep, "/")


def _verify(path: str, checksum: str) -> None:
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in ("sha256", "sha384", "sha512") or not expected:
        raise ChecksumError("unsupported checksum %r (sha256:<hex>, sha384: or sha512:)" % checksum)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise ChecksumError("digest mismatch %s:%s: %s" % (algorithm, digest.hexdigest(), checksum))


def _set_mtime(path: str, last_modified: Optional[str]) -> None:
    if not last_modified:
        return
    try:
        when = email.utils.parsedate_to_datetime(last_modified).timestamp()
    except (TypeError, ValueError, IndexError):
        return
    os.utime(path, (when, when))


def _read_meta(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
