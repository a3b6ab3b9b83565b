"""ADD <url> and ADD <git repository>: fetched when converting, into the build context, as BuildKit would.

The file lands in ``<context>/.d2s-downloads/<key>/<name>`` (``key`` from the URL), where the
definition's %setup copies it from: the build host needs neither network nor curl. The mtime is the
server's ``Last-Modified`` (BuildKit's rule; mode 0600 is set when staging). A later conversion asks
the server whether the file changed (``If-None-Match``/``If-Modified-Since``) and re-downloads only
then. ``--checksum`` is verified here. A download is written to a temporary file and renamed, so an
interrupted one leaves nothing half-written under its final name.
"""

import json
import os
import shutil
from typing import Optional

# hashlib, urllib, email, subprocess and tempfile are imported where they are used: plan_copies imports this
# module for FOLDER on every conversion, and they would cost start-up ~20 ms.

FOLDER = ".d2s-downloads"
TIMEOUT = 30.0
_CHUNK = 1 << 20


class DownloadError(Exception):
    """The URL could not be fetched (network, HTTP status): the caller may fall back."""


class ChecksumError(Exception):
    """The file was fetched but its digest is not the one --checksum names: the build must fail."""


def fetch(url: str, context_dir: str, name: str, checksum: Optional[str] = None) -> str:
    """Download ``url`` (or reuse an unchanged earlier download); the file's path relative to the context."""
    import hashlib
    import tempfile
    import urllib.error
    import urllib.request

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
    import hashlib

    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise ChecksumError("digest mismatch %s:%s: %s" % (algorithm, digest.hexdigest(), checksum))


def _set_mtime(path: str, last_modified: Optional[str]) -> None:
    if not last_modified:
        return
    import email.utils

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


GIT_TIMEOUT = 600


def clone(source: str, context_dir: str, checksum: Optional[str] = None, keep_git_dir: bool = False) -> str:
    """Check out a git source (``URL#ref:subdir``, BuildKit's form) when converting; the tree's path
    relative to the context. Reused while the remote ref still names the same commit."""
    import hashlib
    import tempfile

    url, ref, subdir, keep = git_parts(source)
    keep = keep or keep_git_dir
    key = hashlib.sha256(("%s\0%s" % (source, keep)).encode("utf-8")).hexdigest()[:20]
    folder = os.path.join(context_dir, FOLDER, key)
    tree = os.path.join(folder, "tree")
    meta_path = os.path.join(folder, ".meta.json")
    remote = _remote_commit(url, ref)
    meta = _read_meta(meta_path) if os.path.isdir(tree) else {}
    if remote is None or meta.get("commit") != remote or meta.get("source") != source:
        os.makedirs(folder, exist_ok=True)
        work = tempfile.mkdtemp(dir=folder, prefix=".partial-")
        try:
            checkout = os.path.join(work, "repo")
            _git(["clone", "--quiet", "--no-checkout", "--", url, checkout])
            _git(["-C", checkout, "checkout", "--quiet", "--detach", ref or "HEAD", "--"])
            _git(["-C", checkout, "submodule", "--quiet", "update", "--init", "--recursive"])
            commit = _git(["-C", checkout, "rev-parse", "HEAD"]).strip()
            if not keep:
                shutil.rmtree(os.path.join(checkout, ".git"))
            chosen = os.path.normpath(os.path.join(checkout, subdir)) if subdir else checkout
            inside = chosen == checkout or chosen.startswith(checkout + os.sep)
            if not inside or not os.path.isdir(chosen):
                raise DownloadError("%s: no folder %r in the repository" % (url, subdir))
            _git_modes(chosen)
            old = tree + ".old"
            if os.path.isdir(tree):
                os.replace(tree, old)
            os.replace(chosen, tree)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        meta = {"source": source, "commit": commit}
        with open(meta_path, "w", encoding="utf-8") as out:
            json.dump(meta, out)
    if checksum and not meta["commit"].startswith(checksum.lower()):
        raise ChecksumError("expected checksum to match %s, got %s" % (checksum, meta["commit"]))
    return os.path.relpath(tree, context_dir).replace(os.sep, "/")


def git_parts(source: str):
    """(url, ref, subdir, keep_git_dir) of BuildKit's ``URL#ref:subdir`` or ``URL?ref=..&subdir=..``."""
    url, _, fragment = source.partition("#")
    ref, _, subdir = fragment.partition(":")
    url, _, query = url.partition("?")
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    ref = params.get("ref") or params.get("tag") or params.get("branch") or ref
    subdir = params.get("subdir") or subdir
    keep = params.get("keep-git-dir", "").lower() in ("1", "true")
    return url, ref, subdir.strip("/"), keep


def _remote_commit(url: str, ref: str) -> Optional[str]:
    """The commit ``ref`` names on the remote now (None: a commit id, or the remote cannot tell)."""
    if ref and len(ref) == 40 and all(c in "0123456789abcdef" for c in ref.lower()):
        return ref.lower()
    out = _git(["ls-remote", "--", url, ref or "HEAD"])
    lines = [line.split("\t") for line in out.splitlines() if "\t" in line]
    for wanted in ("refs/tags/%s^{}" % ref, "refs/tags/%s" % ref, "refs/heads/%s" % ref, ref or "HEAD"):
        for commit, name in lines:
            if name == wanted:
                return commit
    return None


def _git(args) -> str:
    import subprocess

    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C")
    try:
        done = subprocess.run(["git"] + args, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DownloadError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise DownloadError("git %s took longer than %d s" % (args[0], GIT_TIMEOUT)) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
        raise DownloadError("git %s: %s" % (args[0] if args[0] != "-C" else args[2], last))
    return done.stdout


def _git_modes(root: str) -> None:
    """BuildKit's modes for a git source: 0755 folders and executables, 0644 other files."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)
