"""COPY/ADD local sources resolved against a build context, the way BuildKit resolves them (A.8).

What BuildKit does, and so what :func:`resolve_sources` does:

* A source is relative to the context root: it is joined to ``/`` and cleaned, so a leading
  ``/`` and any ``..`` that would climb out are clamped (``../x`` is ``x``); a trailing ``/`` goes.
* ``.dockerignore``: BuildKit sends the context through its ignore filter first, so an ignored
  path simply is not there. An ignored file named as a source is "not found"; an ignored folder
  is there only as the parent of files a ``!`` rule brings back, and then holds just those.
* Without a wildcard (``*``, ``?``, ``[`` not escaped by ``\\``) the source must exist. Symlinks on
  its path are followed *inside the context*: the context is the root for them (an absolute
  target starts at the context root, ``..`` stops there), as BuildKit's ``fs.RootPath`` does, so
  nothing outside the context is ever reached. A link whose target is missing (for instance one
  pointing outside the context) is "not found", as in Docker.
* With a wildcard, the folders before the first wildcard component are the base (resolved as
  above); every path under it is matched *whole* against the rest with Go's ``filepath.Match``
  (``*`` never crosses ``/``), walking folders like Go's ``filepath.Walk`` (a matching folder is
  taken whole and not entered; links are not entered). No match is not an error: empty list.
* A folder source is copied by its contents: each :class:`ResolvedSource` for a folder lists in
  ``entries`` the paths (relative to the folder, parents first) that survive ``.dockerignore``
  and ``--exclude``, or has ``entries = None`` when nothing under it is left out. Symlinks inside
  folders are listed as they are (BuildKit copies them as links, never following them).
* ``--exclude`` patterns (``moby/patternmatcher`` syntax, with ``**`` and ``!``) apply to the
  paths inside a folder source relative to that folder, and to what a wildcard matches relative
  to the wildcard's base folder (the documented behaviour: ``COPY --exclude=*.txt hom* /d/``
  leaves out ``homework.txt``; BuildKit itself currently skips that check, moby/buildkit#5489).
  A source named without a wildcard is never excluded by ``--exclude``.
* ``--parents``: the part of the source before ``/./`` (or the root) is the base and the rest an
  include pattern (patternmatcher, ``**`` allowed); every path under the base it matches is
  returned, with its context-relative ``path`` so the caller can keep its parent folders.

Choices where Docker's result cannot be reproduced by a plain file copy, made for safety:

* Every ``path`` returned is *resolved*: it has no symlink in it, so a caller that copies it with
  ``cp -H`` or ``tar`` cannot be led outside the context. ``name`` keeps the name Docker gives the
  copy (the source's own last component, not its link target's).
* A symlink matched by a ``--parents`` pattern is resolved like any other source (its target's
  content is copied); BuildKit would copy the link itself there.
* A ``--parents`` source without wildcards that matches nothing is an error here (BuildKit's
  behaviour for that case is not established); with wildcards, no match is an empty list.

:func:`is_archive` tells whether ``ADD`` would unpack a local file: by content, as BuildKit does
(decompress if gzip/bzip2/xz/zstd, then a valid first tar header is required).
"""

import bz2
import lzma
import os
import posixpath
import stat
import zlib
from collections import deque
from typing import Iterable, List, Optional, Sequence, Tuple

from .patterns import IgnoreMatcher, PatternError, clean, has_wildcards, match, split_wildcards

__all__ = [
    "ContextError",
    "SourceNotFoundError",
    "ResolvedSource",
    "resolve_sources",
    "open_context",
    "clean_source",
    "resolve_in_context",
    "is_archive",
    "MAX_LINKS",
]

MAX_LINKS = 255  # symlinks followed while resolving one path (as fs.RootPath)


class ContextError(ValueError):
    """A source BuildKit would refuse (bad link chain, unreadable folder, ...)."""


class SourceNotFoundError(ContextError):
    """A source that is not in the (ignore-filtered) build context."""


class ResolvedSource:
    """One local source, ready to stage.

    ``path``    context-relative path to read, symlinks resolved inside the context ("." is the
                root); safe to copy from: no component of it is a symlink.
    ``is_dir``  whether it is a folder (its contents get copied).
    ``entries`` for a folder: the entries to take, relative to it, each folder before what it
                holds; None when the whole folder is taken (nothing ignored or excluded). None
                for files.
    ``name``    the name Docker gives the copy under a destination folder.
    ``source``  the context-relative path as written or as matched, before resolving links.
    """

    __slots__ = ("path", "is_dir", "entries", "name", "source")

    def __init__(self, path: str, is_dir: bool, entries: Optional[List[str]] = None,
                 name: Optional[str] = None, source: Optional[str] = None):
        self.path = path
        self.is_dir = is_dir
        self.entries = entries
        self.source = source if source is not None else path
        self.name = name if name is not None else (posixpath.basename(self.source) or ".")

    def __repr__(self):
        return "ResolvedSource(path=%r, is_dir=%r, entries=%r, name=%r, source=%r)" % (
            self.path, self.is_dir, self.entries, self.name, self.source)

    def __eq__(self, other):
        if not isinstance(other, ResolvedSource):
            return NotImplemented
        return (self.path, self.is_dir, self.entries, self.name, self.source) == \
            (other.path, other.is_dir, other.entries, other.name, other.source)


def clean_source(source: str) -> str:
    """A source as BuildKit places it in the context: joined to ``/``, cleaned, made relative."""
    return clean("/" + source).lstrip("/") or "."


def _join(base: str, name: str) -> str:
    if not base or base == ".":
        return name
    return base + "/" + name


class _Context:
    """The build context seen through .dockerignore, with a few caches."""

    def __init__(self, context_dir: str, ignore: Optional[IgnoreMatcher]):
        self.root = os.path.realpath(context_dir)
        # lstat, not isdir: the root has no symlink left in it, and every resolve() starts from this
        # stat instead of asking the file system again.
        try:
            self.root_stat = os.lstat(self.root)
        except (OSError, ValueError):
            self.root_stat = None
        if self.root_stat is None or not stat.S_ISDIR(self.root_stat.st_mode):
            raise ContextError("the build context %s is not a folder" % context_dir)
        self.ignore = ignore if ignore else None
        self._below = {}  # folder -> whether something under it survives .dockerignore

    def abspath(self, rel: str) -> str:
        return self.root if rel == "." else os.path.join(self.root, rel)

    def ignored(self, rel: str) -> bool:
        return self.ignore is not None and rel != "." and self.ignore.matches(rel)

    def present(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` is in the context BuildKit sends (after .dockerignore)."""
        if not self.ignored(rel):
            return True
        if not is_dir or not self.ignore.has_exclusions:
            return False
        return self._anything_below(rel)

    def _anything_below(self, folder: str) -> bool:
        got = self._below.get(folder)
        if got is not None:
            return got
        ignore = self.ignore
        found = False
        stack = [(folder, ignore.parent_info(folder + "/x"))]
        while stack and not found:
            current, info = stack.pop()
            for entry in self.listdir(current):
                rel = _join(current, entry.name)
                left_out, child_info = ignore.match_entry(rel, info)
                if not left_out:
                    found = True
                    break
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel, child_info))
        self._below[folder] = found
        return found

    def listdir(self, rel: str) -> list:
        try:
            with os.scandir(self.abspath(rel)) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as err:
            raise ContextError("cannot read %s in the build context: %s" % (rel, err.strerror or err)) from None

    def resolve(self, rel: str, shown: str) -> Tuple[str, os.stat_result]:
        """Follow symlinks along ``rel`` with the context as root; the real path and its stat."""
        parts = deque(p for p in rel.split("/") if p not in ("", "."))
        done = []  # type: List[str]
        links = 0
        st = self.root_stat
        while parts:
            part = parts.popleft()
            if part == "..":
                if done:
                    done.pop()
                st = os.lstat(self.abspath("/".join(done) or "."))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise SourceNotFoundError("%s: not found in the build context (%s is not a folder)"
                                          % (shown, "/".join(done) or "."))
            candidate = "/".join(done + [part])
            try:
                st = os.lstat(self.abspath(candidate))
            except FileNotFoundError:
                raise SourceNotFoundError("%s: not found in the build context" % shown) from None
            except OSError as err:
                raise ContextError("%s: cannot read %s: %s" % (shown, candidate, err.strerror or err)) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise ContextError("%s: too many levels of symbolic links" % shown)
                if self.ignored(candidate):
                    raise SourceNotFoundError("%s: not found in the build context (%s is excluded by .dockerignore)"
                                              % (shown, candidate))
                target = os.readlink(self.abspath(candidate))
                if target.startswith("/"):
                    done = []
                parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                st = os.lstat(self.abspath("/".join(done) or "."))
                continue
            done.append(part)
        return "/".join(done) or ".", st

    # -- folders

    def walk(self, folder: str, exclude: Optional[IgnoreMatcher], exclude_prefix: str = "",
             exclude_parent=None) -> Tuple[List[str], bool]:
        """The entries of ``folder`` that survive .dockerignore and ``exclude`` (relative to the
        folder, parents first) and whether that is everything under it."""
        ignore = self.ignore
        entries = []  # type: List[str]
        complete = True
        ignore_parent = ignore.parent_info(_join(folder, "x")) if ignore is not None else None
        # frame: [iterator, context path, path in folder, ignore info, exclude info, emitted]
        stack = [[iter(self.listdir(folder)), folder, "", ignore_parent, exclude_parent, True]]
        while stack:
            frame = stack[-1]
            entry = next(frame[0], None)
            if entry is None:
                stack.pop()
                continue
            rel = _join(frame[1], entry.name)
            inside = _join(frame[2], entry.name)
            left_out = False
            ignore_info = exclude_info = None
            if ignore is not None:
                left_out, ignore_info = ignore.match_entry(rel, frame[3])
            excluded = False
            if exclude is not None:
                excluded, exclude_info = exclude.match_entry(_join(exclude_prefix, inside) if exclude_prefix
                                                             else inside, frame[4])
            if entry.is_dir(follow_symlinks=False):
                if (left_out and not ignore.has_exclusions) or (excluded and not exclude.has_exclusions):
                    complete = False
                    continue
                taken = not left_out and not excluded
                if taken:
                    self._emit_parents(stack, entries)
                    entries.append(inside)
                else:
                    complete = False
                stack.append([iter(self.listdir(rel)), rel, inside, ignore_info, exclude_info, taken])
                continue
            if left_out or excluded:
                complete = False
                continue
            self._emit_parents(stack, entries)
            entries.append(inside)
        return entries, complete

    @staticmethod
    def _emit_parents(stack, entries) -> None:
        """A left-out folder still comes along as the parent of something taken."""
        for frame in stack:
            if not frame[5]:
                entries.append(frame[2])
                frame[5] = True

    def folder_source(self, real: str, exclude, name: str, source: str,
                      exclude_prefix: str = "", exclude_parent=None) -> ResolvedSource:
        entries, complete = self.walk(real, exclude, exclude_prefix, exclude_parent)
        return ResolvedSource(real, True, None if complete else entries, name, source)

    def resolve_sources(self, sources: Iterable[str], excludes: Sequence[str] = (),
                        parents: bool = False) -> List[ResolvedSource]:
        """:func:`resolve_sources` in this context."""
        exclude = IgnoreMatcher(list(excludes)) if excludes else None
        if exclude is not None and not exclude:
            exclude = None
        found = []  # type: List[ResolvedSource]
        for source in sources:
            if parents:
                found.extend(_resolve_parents(self, source, exclude))
            else:
                found.extend(_resolve_one(self, source, exclude))
        return found


def resolve_in_context(context_dir: str, relative: str, ignore: Optional[IgnoreMatcher] = None) -> str:
    """The real context-relative path of ``relative``, links followed inside the context.

    Raises :class:`SourceNotFoundError` when it does not exist (or is .dockerignore'd).
    """
    ctx = _Context(context_dir, ignore)
    real, st = ctx.resolve(clean_source(relative), relative)
    if not ctx.present(real, stat.S_ISDIR(st.st_mode)):
        raise SourceNotFoundError("%s: not found in the build context (excluded by .dockerignore)" % relative)
    return real


def resolve_sources(context_dir: str, sources: Iterable[str], ignore: Optional[IgnoreMatcher] = None,
                    excludes: Sequence[str] = (), parents: bool = False) -> List[ResolvedSource]:
    """Resolve COPY/ADD local sources against the build context (see the module docstring).

    ``ignore`` is the context's .dockerignore matcher (or None), ``excludes`` the ``--exclude``
    values, ``parents`` whether ``--parents`` is on. Raises :class:`SourceNotFoundError` for a
    source without wildcards that is not there, :class:`ContextError` for other refusals and
    :class:`~dockerfile2def.patterns.PatternError` for a malformed ``--exclude``.
    """
    return _Context(context_dir, ignore).resolve_sources(sources, excludes, parents)


def open_context(context_dir: str, ignore: Optional[IgnoreMatcher] = None) -> "_Context":
    """The build context seen through ``ignore``, for several :func:`resolve_sources` calls
    (``.resolve_sources(sources, excludes, parents)``) with the root looked up once. Raises
    :class:`ContextError` when ``context_dir`` is not a folder."""
    return _Context(context_dir, ignore)


def _resolve_one(ctx: _Context, source: str, exclude) -> List[ResolvedSource]:
    rel = clean_source(source)
    if not has_wildcards(rel):
        real, st = ctx.resolve(rel, source)
        is_dir = stat.S_ISDIR(st.st_mode)
        if not ctx.present(real, is_dir):
            raise SourceNotFoundError("%s: not found in the build context (excluded by .dockerignore)" % source)
        name = posixpath.basename(rel) or "."
        if is_dir:
            return [ctx.folder_source(real, exclude, name, rel)]
        return [ResolvedSource(real, False, None, name, rel)]

    base, pattern = split_wildcards(rel)
    try:
        base_real, st = ctx.resolve(base or ".", source)
    except SourceNotFoundError:
        return []  # Go's Walk of a missing base finds nothing
    if not stat.S_ISDIR(st.st_mode) or not ctx.present(base_real, True):
        return []
    results = []
    for inside, is_dir, excluded in _wildcard_matches(ctx, base_real, pattern, exclude):
        if excluded:
            continue
        matched = _join(base_real, inside)
        name = posixpath.basename(inside)
        if is_dir:
            results.append(ctx.folder_source(matched, exclude, name, matched))
            continue
        real, st = ctx.resolve(matched, source)  # a matched symlink is followed, in the context
        target_is_dir = stat.S_ISDIR(st.st_mode)
        if not ctx.present(real, target_is_dir):
            raise SourceNotFoundError("%s: %s points to %s, which is excluded by .dockerignore" % (source, matched, real))
        if target_is_dir:
            results.append(ctx.folder_source(real, exclude, name, matched))
        else:
            results.append(ResolvedSource(real, False, None, name, matched))
    return results


def _wildcard_matches(ctx: _Context, base: str, pattern: str, exclude):
    """(path inside base, is a folder, excluded) for each match, in ``filepath.Walk`` order."""
    # A name can hold no more '/' than the pattern has '/' or classes ([/] matches a '/').
    max_slashes = pattern.count("/") + pattern.count("[")
    stack = [(iter(ctx.listdir(base)), "", None)]
    while stack:
        it, folder, exclude_info = stack[-1]
        entry = next(it, None)
        if entry is None:
            stack.pop()
            continue
        inside = _join(folder, entry.name)
        rel = _join(base, inside)
        is_dir = entry.is_dir(follow_symlinks=False)
        if not ctx.present(rel, is_dir):
            continue
        excluded = False
        child_info = None
        if exclude is not None:
            excluded, child_info = exclude.match_entry(inside, exclude_info)
        try:
            hit = match(pattern, inside)
        except PatternError:
            hit = False  # BuildKit ignores the error: a malformed pattern matches nothing
        if hit:
            yield inside, is_dir, excluded
            continue
        if is_dir and inside.count("/") < max_slashes:
            stack.append((iter(ctx.listdir(rel)), inside, child_info))


def _literal_prefix(pattern: str) -> List[str]:
    parts = []
    for part in pattern.split("/"):
        if any(c in part for c in "*?[\\"):
            break
        parts.append(part)
    return parts


def _resolve_parents(ctx: _Context, source: str, exclude) -> List[ResolvedSource]:
    """``COPY --parents``: the base before ``/./`` and an include pattern for the rest."""
    head, pivot, tail = source.partition("/./")
    if pivot:
        base, pattern = clean_source(head), clean("/" + tail).lstrip("/")
    else:
        base, pattern = ".", clean("/" + source).lstrip("/")
    try:
        base_real, st = ctx.resolve(base, source)
    except SourceNotFoundError:
        if has_wildcards(pattern):
            return []
        raise
    if not stat.S_ISDIR(st.st_mode) or not ctx.present(base_real, True):
        if has_wildcards(pattern):
            return []
        raise SourceNotFoundError("%s: not found in the build context" % source)
    if not pattern:
        return [ctx.folder_source(base_real, exclude, posixpath.basename(base_real) or ".", base_real)]
    include = IgnoreMatcher([pattern])
    literal = _literal_prefix(pattern)
    results = []
    stack = [(iter(ctx.listdir(base_real)), "", None, None)]
    while stack:
        it, folder, include_info, exclude_info = stack[-1]
        entry = next(it, None)
        if entry is None:
            stack.pop()
            continue
        inside = _join(folder, entry.name)
        rel = _join(base_real, inside)
        is_dir = entry.is_dir(follow_symlinks=False)
        if not ctx.present(rel, is_dir):
            continue
        depth = inside.count("/")
        if depth < len(literal) and entry.name != literal[depth]:
            continue
        hit, child_include = include.match_entry(inside, include_info)
        excluded = False
        child_exclude = None
        if exclude is not None:
            excluded, child_exclude = exclude.match_entry(inside, exclude_info)
        if hit:
            if is_dir:
                if excluded and not exclude.has_exclusions:
                    continue
                item = ctx.folder_source(rel, exclude, entry.name, rel, inside, child_exclude)
                if excluded and not item.entries:
                    continue
                results.append(item)
                continue
            if excluded:
                continue
            real, st = ctx.resolve(rel, source)
            if not ctx.present(real, stat.S_ISDIR(st.st_mode)):
                raise SourceNotFoundError("%s: %s points to %s, which is excluded by .dockerignore" % (source, rel, real))
            if stat.S_ISDIR(st.st_mode):
                results.append(ctx.folder_source(real, exclude, entry.name, rel))
            else:
                results.append(ResolvedSource(real, False, None, entry.name, rel))
            continue
        if is_dir:
            stack.append((iter(ctx.listdir(rel)), inside, child_include, child_exclude))
    if not results and not has_wildcards(pattern):
        raise SourceNotFoundError("%s: not found in the build context" % source)
    return results


# -- ADD's archive detection -------------------------------------------------------------------

_READ_LIMIT = 1024 * 1024 + 4096  # enough for a first header and any PAX/GNU long-name record
_ZERO_BLOCK = bytes(512)


def is_archive(path: str) -> Optional[str]:
    """What ``ADD`` would unpack: ``"tar"``, ``"gzip"``, ``"bzip2"``, ``"xz"`` or ``"zstd"``
    (the compression of a tar stream), or None for any other file.

    As BuildKit: only regular files (not symlinks), the compression is recognised by its magic
    bytes (gzip ``1f 8b 08``, bzip2 ``BZh``, xz ``fd 37 7a 58 5a 00``, zstd ``28 b5 2f fd``) and
    the (decompressed) stream must start with a tar header Go's ``archive/tar`` accepts (a valid
    checksum, numeric fields that parse; PAX and GNU long-name headers are followed). A zstd file
    is reported without looking inside unless a zstd decompressor is importable.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
            handle.seek(0)
            kind = _compression(magic)
            if kind == "zstd":
                data = _unzstd(handle)
                if data is None:
                    return kind
            else:
                data = _decompressed(handle, kind)
    except OSError:
        return None
    if data is None or not _tar_header_ok(data):
        return None
    return kind


def _compression(magic: bytes) -> str:
    if magic.startswith(b"\x1f\x8b\x08"):
        return "gzip"
    if magic.startswith(b"BZh"):
        return "bzip2"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return "tar"


def _decompressed(handle, kind: str) -> Optional[bytes]:
    """The first bytes of the decompressed stream (None if it is not valid compressed data)."""
    if kind == "tar":
        return handle.read(_READ_LIMIT)
    out = bytearray()
    try:
        if kind == "gzip":
            dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while len(out) < _READ_LIMIT and not dec.eof:
                chunk = dec.unconsumed_tail or handle.read(65536)
                if not chunk:
                    break
                out += dec.decompress(chunk, _READ_LIMIT - len(out))
        else:
            dec = bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()
            while len(out) < _READ_LIMIT and not dec.eof:
                if dec.needs_input:
                    chunk = handle.read(65536)
                    if not chunk:
                        break
                else:
                    chunk = b""
                out += dec.decompress(chunk, _READ_LIMIT - len(out))
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        # A corrupt stream is still read up to the fault; Go's tar reader sees those bytes.
        pass
    return bytes(out)


def _unzstd(handle) -> Optional[bytes]:
    try:
        import zstandard  # type: ignore
    except ImportError:
        return None
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(handle)
        return reader.read(_READ_LIMIT)
    except zstandard.ZstdError:
        return b""


class _BadHeader(Exception):
    pass


def _parse_numeric(field: bytes) -> int:
    """Go ``archive/tar`` ``parseNumeric``: base-256 when the high bit is set, else octal."""
    if field and field[0] & 0x80:
        inv = 0xFF if field[0] & 0x40 else 0
        value = 0
        for i, c in enumerate(field):
            c ^= inv
            if i == 0:
                c &= 0x7F
            if value >> 56:
                raise _BadHeader()
            value = (value << 8) | c
        if value >> 63:
            raise _BadHeader()
        return ~value if inv else value
    text = field.strip(b" \x00")
    if not text:
        return 0
    cut = text.find(b"\x00")
    if cut >= 0:
        text = text[:cut]
    if not text or any(c not in b"01234567" for c in text):
        raise _BadHeader()
    value = int(text, 8)
    if value >> 64:
        raise _BadHeader()
    return value


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = _parse_numeric(block[148:156]) if not block[148] & 0x80 else None
    except _BadHeader:
        return False
    if stored is None:
        return False
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148]) + 8 * 0x20 + \
        sum(b - 256 if b > 127 else b for b in block[156:])
    return stored == unsigned or stored == signed


def _pax_ok(records: bytes) -> bool:
    text = records
    while text:
        space = text.find(b" ")
        if space <= 0:
            return False
        try:
            length = int(text[:space].decode("ascii"), 10)
        except (UnicodeDecodeError, ValueError):
            return False
        if length < 5 or length > len(text) or space + 1 >= length:
            return False
        record, newline, text = text[space + 1:length - 1], text[length - 1:length], text[length:]
        if newline != b"\n" or b"=" not in record:
            return False
        key, _, value = record.partition(b"=")
        if not key:
            return False
        if key in (b"path", b"linkpath", b"uname", b"gname"):
            if b"\x00" in value:
                return False
        elif b"\x00" in key:
            return False
    return True


def _tar_header_ok(data: bytes) -> bool:
    """Whether Go's ``tar.Reader.Next()`` would return a first header from ``data``."""
    offset = 0
    for _ in range(16):
        block = data[offset:offset + 512]
        if len(block) < 512:
            return False
        if block == _ZERO_BLOCK:
            return False  # end of archive (or a zero block then garbage): no first entry
        if not _checksum_ok(block):
            return False
        magic, version = block[257:263], block[263:265]
        modern = magic == b"ustar\x00" or (magic == b"ustar " and version == b" \x00")
        try:
            for start, end in ((100, 108), (108, 116), (116, 124), (124, 136), (136, 148)):
                _parse_numeric(block[start:end])
            if modern:
                _parse_numeric(block[329:337])
                _parse_numeric(block[337:345])
            size = _parse_numeric(block[124:136])
        except _BadHeader:
            return False
        if size < 0:
            return False
        typeflag = block[156:157]
        if typeflag not in (b"x", b"g", b"L", b"K"):
            return True
        body = data[offset + 512:offset + 512 + size]
        if len(body) < size:
            return len(data) >= _READ_LIMIT  # cut by our reading limit, not by the file
        if typeflag in (b"x", b"g") and not _pax_ok(body):
            return False
        if typeflag == b"g":
            return True
        offset += 512 + (size + 511) // 512 * 512
    return True
