"""COPY/ADD local sources resolved against the build context, as BuildKit resolves them.

Sources are relative to the context root; a leading ``/`` and ``..`` that would leave it are
clamped; symlinks on the way are followed inside the context (an absolute link target means the
context root, as in a chroot), so nothing outside the context is ever read. Wildcards follow Go's
filepath.Match, one path segment at a time; .dockerignore'd paths are not there; ``--exclude``
patterns leave out more.
"""

import os
import posixpath
from typing import List, Optional

from .patterns import IgnoreMatcher, has_wildcard, match

MAX_LINKS = 40


class ContextError(ValueError):
    pass


class ResolvedSource:
    """A source path inside the context: ``path`` (context-relative), ``is_dir``, and for a folder
    some of whose files are ignored or excluded, ``entries``: the relative paths to take (folders
    before their contents). ``entries`` is None when the whole folder is taken."""

    __slots__ = ("path", "is_dir", "entries")

    def __init__(self, path: str, is_dir: bool, entries: Optional[List[str]] = None):
        self.path = path
        self.is_dir = is_dir
        self.entries = entries

    def __repr__(self):
        return "ResolvedSource(%r, is_dir=%r, entries=%r)" % (self.path, self.is_dir, self.entries)


def clean(source: str) -> str:
    """The context-relative form of a source: no leading /, no .. above the root, no trailing /."""
    return posixpath.normpath("/" + source).lstrip("/") or "."


def resolve_in_context(context_dir: str, relative: str) -> Optional[str]:
    """Follow symlinks along ``relative`` without leaving the context; the real relative path, or None."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    done: List[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(context_dir, *(done + [part]))
        if os.path.islink(candidate):
            hops += 1
            if hops > MAX_LINKS:
                raise ContextError("too many levels of symbolic links in %s" % relative)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        if not os.path.lexists(candidate):
            return None
        done.append(part)
    return "/".join(done) or "."


def _excluded(relative: str, ignore: Optional[IgnoreMatcher], excludes) -> bool:
    if ignore is not None and ignore.matches(relative):
        return True
    for pattern in excludes:
        pattern = clean(pattern)
        parts = relative.split("/")
        if any(match(pattern, "/".join(parts[:k])) for k in range(1, len(parts) + 1)):
            return True
    return False


def _walk_entries(context_dir: str, folder: str, ignore, excludes) -> Optional[List[str]]:
    """None when nothing under ``folder`` is left out, else the relative paths to take."""
    taken: List[str] = []
    left_out = False
    root = os.path.join(context_dir, folder) if folder != "." else context_dir
    for current, dirs, files in os.walk(root):
        dirs.sort()
        relative_dir = os.path.relpath(current, root)
        relative_dir = "" if relative_dir == "." else relative_dir.replace(os.sep, "/")
        keep_dirs = []
        for name in dirs:
            rel = (relative_dir + "/" + name).lstrip("/")
            full = (folder + "/" + rel) if folder != "." else rel
            if _excluded(full, ignore, excludes):
                left_out = True
                if ignore is not None and ignore.may_include_below(full):
                    keep_dirs.append(name)  # an exception rule may bring back something inside
                continue
            taken.append(rel)
            if os.path.islink(os.path.join(current, name)):
                continue
            keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            rel = (relative_dir + "/" + name).lstrip("/")
            full = (folder + "/" + rel) if folder != "." else rel
            if _excluded(full, ignore, excludes):
                left_out = True
                continue
            taken.append(rel)
    if not left_out:
        return None
    # parents of re-included files must come along
    result = set(taken)
    for rel in taken:
        parent = posixpath.dirname(rel)
        while parent and parent not in result:
            result.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(result)


def _expand_pattern(context_dir: str, pattern: str) -> List[str]:
    """Context-relative paths matching a wildcard pattern, segment by segment (Go filepath.Glob)."""
    segments = pattern.split("/")
    found = [""]
    for segment in segments:
        following = []
        for base in found:
            folder = os.path.join(context_dir, base) if base else context_dir
            if not has_wildcard(segment):
                candidate = (base + "/" + segment).lstrip("/")
                if os.path.lexists(os.path.join(context_dir, candidate)):
                    following.append(candidate)
                continue
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            following.extend((base + "/" + name).lstrip("/") for name in names if match(segment, name))
        found = following
    return found


def resolve_sources(context_dir: str, sources: List[str], ignore: Optional[IgnoreMatcher] = None,
                    excludes=(), parents: bool = False) -> List[ResolvedSource]:
    """Resolve COPY/ADD sources; a pattern that matches nothing gives nothing (as in Docker).

    Raises ContextError for a source that is not in the context (or is .dockerignore'd).
    """
    result: List[ResolvedSource] = []
    for source in sources:
        relative = clean(source)
        if has_wildcard(relative):
            candidates = _expand_pattern(context_dir, relative)
            candidates = [c for c in candidates if not _excluded(c, ignore, excludes)]
        else:
            if relative != "." and _excluded(relative, ignore, ()):
                raise ContextError("%s is excluded by .dockerignore" % source)
            candidates = [relative]
        for candidate in candidates:
            real = resolve_in_context(context_dir, candidate)
            if real is None:
                raise ContextError("%s: not found in the build context" % source)
            full = os.path.join(context_dir, real) if real != "." else context_dir
            is_dir = os.path.isdir(full)
            entries = _walk_entries(context_dir, real, ignore, excludes) if is_dir else None
            result.append(ResolvedSource(candidate if parents else real, is_dir, entries))
    return result


def is_archive(path: str) -> Optional[str]:
    """"gzip", "bzip2", "xz" or "tar" when the file is an archive ADD extracts (by content), else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return None
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None
