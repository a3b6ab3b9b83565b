"""Plan every COPY/ADD: what to stage, from where, and how to put it in place at its turn.

Apptainer copies all ``%files`` before ``%post`` runs, with ``cp -r`` rules that differ from
Docker's. So d2s stages each source under ``/.d2s/<line>/<n>`` (never under /tmp, which is the
host's during the build) and copies it in place inside ``%post`` at the COPY's position, with
Docker's rules: a directory's contents merge into the destination, a trailing ``/`` means a
folder, ``--chown``/``--chmod`` apply, ownership is 0:0 otherwise, symlinks inside folders stay.

Context sources are resolved here, at conversion time, as BuildKit does: relative to the
context root, clamped to it, with Go's filepath.Match wildcards and .dockerignore.
"""

import os
import posixpath
import re
from typing import List

from .. import shell  # quote is read from it at call time: shell imports passes, so it may be half-loaded here
from ..context import is_archive, open_context
from ..conversion import Context
from ..ir import Copy, Dockerfile, Run, StagedSource
from ..errors import D2SError
from ..patterns import IgnoreMatcher, PatternError, find_ignore_file, read_ignore_file
from .scope import DEFERRED, DEFERRED_OPEN, has_deferred, show_deferred
from .select_stages import stage_finder

STAGING = "/.d2s"
_URL = re.compile(r"^https?://", re.I)
_GIT = re.compile(r"^(git@|git://|ssh://|https?://[^?#]*\.git([?#].*)?$)", re.I)
_FILES_QUOTED = re.compile(r'[\s"]')  # a %files path with these is written in double quotes


def plan_copies(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    # Without a fetcher and outputs of its own, d2s puts nothing in the context while converting, so
    # whether its downloads folder is there can wait until a source is looked for in the context
    # (most conversions look for none: they would stat it for nothing). Otherwise, as always: now.
    later = ctx.downloader is None and ctx.cloner is None and not ctx.own_outputs
    if not later and ctx.context_dir is not None and (_downloads(dockerfile, ctx)
                                                      or os.path.isdir(_downloads_folder(ctx))):
        ctx.own_outputs.append(_downloads_folder(ctx))  # d2s's, not the project's: never in the image
    local = _LocalSources(ctx, later)
    stages = _StageRefs(dockerfile)
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            kind = instruction.__class__  # the IR's instruction classes have no subclasses
            if kind is Copy:
                instruction.plan = _plan(instruction, ctx, local, stages)
            elif kind is Run and instruction.mounts:  # most RUNs mount nothing
                _plan_mounts(instruction, ctx, local, stages)
    if stages.images:  # (most conversions copy from no image: no sort to call)
        dockerfile.image_stages = sorted(stages.images.items(), key=lambda kv: kv[1])
    return dockerfile


class _StageRefs:
    """What ``--from`` names in one conversion: a stage (by its Apptainer name) or an image (copied
    through a stage of its own, ``images``: reference -> stage name). The tables are made at the
    first reference: most conversions have none."""

    def __init__(self, dockerfile: Dockerfile):
        self.dockerfile = dockerfile
        self.named = None  # select_stages.stage_finder's look-up
        self.names = None  # emit.stage_names's
        self.images = {}

    def stage_name(self, ref: str) -> str:
        if self.named is None:
            self.named = stage_finder(self.dockerfile)
            self.names = _stage_names()(self.dockerfile)
        stage = self.named(ref)
        if stage is not None:
            return self.names[stage.index]
        # Any other name is an image: copy from a stage that is only that image.
        name = self.images.get(ref)
        if name is None:
            name = self.images[ref] = "d2s-image-%d" % len(self.images)
        return name


def _stage_names():
    """emit.stage_names, imported at first use (emit imports this module) and then kept."""
    global _STAGE_NAMES
    if _STAGE_NAMES is None:
        from ..emit import stage_names as _STAGE_NAMES
    return _STAGE_NAMES


_STAGE_NAMES = None


def _downloads_folder(ctx: Context) -> str:
    global _DOWNLOADS
    if _DOWNLOADS is None:  # download.FOLDER, imported at first use (an import statement per call cost more)
        from ..download import FOLDER as _DOWNLOADS
    folder = ctx.context_dir  # + a relative name: os.path.join's path, without its call
    return folder + _DOWNLOADS if folder.endswith("/") else folder + "/" + _DOWNLOADS


_DOWNLOADS = None


def _downloads(dockerfile: Dockerfile, ctx: Context) -> bool:
    """True when converting will fetch an ADD <url> or <git repository> into the context."""
    return ctx.downloader is not None and any(
        isinstance(i, Copy) and i.keyword.upper() == "ADD" and any(_URL.match(s) or _GIT.match(s) for s in i.sources)
        for stage in dockerfile.stages for i in stage.instructions)


class _LocalSources:
    """The build context as the sources of one conversion see it: through .dockerignore (read now:
    a bad pattern is an error even with no source to look for), with d2s's own outputs left out.

    The context's root is looked up once per conversion, at the first source that needs it, not per
    source; so is the downloads folder when ``later`` (see plan_copies).
    """

    def __init__(self, ctx: Context, later: bool):
        self.ctx = ctx
        self.later = later and bool(ctx.context_dir)
        self.rules = _ignore_rules(ctx)
        self.matcher = None if self.later else _ignore_matcher(ctx, self.rules)
        self.opened = None  # context.open_context's view, once a source needs it

    def resolve(self, source: str, excludes=(), parents: bool = False):
        """context.resolve_sources for one source (the same errors)."""
        if self.later:
            self.later = False
            folder = _downloads_folder(self.ctx)
            if os.path.isdir(folder):
                self.ctx.own_outputs.append(folder)
            self.matcher = _ignore_matcher(self.ctx, self.rules)
        if self.opened is None:
            self.opened = open_context(self.ctx.context_dir, self.matcher)
        return self.opened.resolve_sources([source], excludes, parents)


def _ignore_rules(ctx: Context) -> list:
    """.dockerignore's rules."""
    if not ctx.context_dir:
        return []
    path = find_ignore_file(ctx.context_dir, ctx.path)
    if path:
        with open(path, encoding="utf-8", errors="replace") as handle:
            try:
                return list(IgnoreMatcher(read_ignore_file(handle.read())).rules)
            except PatternError as err:
                raise D2SError("invalid .dockerignore pattern: %s" % err, getattr(err, "line", None) or 1, 1, path)
    return []


def _ignore_matcher(ctx: Context, rules: list):
    """.dockerignore's rules, plus d2s's own outputs inside the context (never part of the image)."""
    if not ctx.context_dir:
        return None
    rules = list(rules)
    root = os.path.realpath(ctx.context_dir) if ctx.own_outputs else None
    for output in ctx.own_outputs:
        relative = os.path.relpath(os.path.realpath(output), root)
        if not relative.startswith(".."):
            rules.append(re.sub(r"([*?\[\\])", r"\\\1", relative.replace(os.sep, "/")))
    return IgnoreMatcher(rules) if rules else None


def _plan(copy: Copy, ctx: Context, local: "_LocalSources", stages: _StageRefs) -> List[StagedSource]:
    line = copy.span.line
    plan = []
    add = copy.keyword == "ADD"
    heredocs = {h.name: h for h in copy.heredocs} if copy.heredocs else None  # most COPYs have none
    source_flag = copy.flag("from")
    sources = copy.sources
    if len(sources) > 1:
        if not copy.destination.endswith(("/", "\\")):
            raise ctx.error(
                "When using %s with more than one source file, the destination must be a directory and end with a /"
                % copy.keyword, line, copy.span.column)
    for n, source in enumerate(sources):
        staged = f"{STAGING}/{line}/{n}"
        heredoc = _heredoc_for(source, heredocs) if heredocs else None
        if heredoc is not None:
            body = "".join(line.lstrip("\t") for line in heredoc.body.splitlines(True)) if heredoc.chomp \
                else heredoc.body
            plan.append(StagedSource("heredoc", heredoc.name, staged, heredoc.name, body=body, mode="0644"))
            continue
        if DEFERRED_OPEN in source:  # rare: tested here, not in a call per source
            source = _as_if_unset(source, copy, ctx)
        if source_flag is not None and source_flag.value:
            plan.append(_from_stage(stages, source_flag.value, source, staged))
            continue
        if (":" in source or "@" in source) and (_URL.match(source) or _GIT.match(source)):  # each has one
            if not add:
                kind = "a git ref" if _GIT.match(source) else "a URL"
                raise ctx.error("source can't be %s for COPY" % kind, line, copy.span.column)
            plan.append(_remote(copy, source, staged, ctx))
            continue
        plan.extend(_context_sources(copy, source, staged, ctx, local, add))
    return plan


def _as_if_unset(source: str, copy: Copy, ctx: Context) -> str:
    """A source path naming a variable only the unread base image sets: files are chosen when
    converting, where no shell can resolve it, so it is taken as unset (D2S025)."""
    if not has_deferred(source):
        return source
    names = sorted({found.group(1) for found in DEFERRED.finditer(source)})
    ctx.warn("D2S025", "%s source %s: only the base image sets %s, and d2s could not read its config: taken "
             "as unset" % (copy.keyword, show_deferred(source), ", ".join(names)), copy.span.line, copy.span.column)

    def unset(found):
        modifier = found.group(2) or ""
        return modifier.lstrip(":")[1:] if modifier.lstrip(":")[:1] == "-" else ""

    return DEFERRED.sub(unset, source)


def _plan_mounts(run: Run, ctx: Context, local: "_LocalSources", stages: _StageRefs) -> None:
    """Bind mounts are staged like COPY sources: from the context, or from a stage or image."""
    for n, mount in enumerate(run.mounts):
        if mount.kind != "bind":
            continue
        source = mount.options.get("source") or mount.options.get("src") or "."
        staged = f"{STAGING}/{run.span.line}/mount-{n}"
        origin = mount.options.get("from")
        if origin:
            mount.source = _from_stage(stages, origin, source, staged)
            continue
        if not ctx.context_dir:
            raise ctx.error("RUN --mount needs a build context to read %s from" % source, run.span.line,
                            run.span.column)
        # The same resolution as COPY: inside the context, symlinks followed there, .dockerignore applied.
        clean = _clean_path(source)
        if not os.path.lexists(ctx.context_dir + "/" + clean):  # (as in _context_sources)
            ctx.warn("D2S023", f"RUN --mount source {source} is not in the build context {ctx.context_dir}; the "
                     "build fails unless it is there then", run.span.line, run.span.column)
            mount.source = StagedSource("context", clean, staged, posixpath.basename(clean) or ".")
            continue
        try:
            found = local.resolve(source)
        except (OSError, ValueError) as err:
            raise ctx.error("RUN --mount: %s" % err, run.span.line, run.span.column)
        if len(found) != 1:
            raise ctx.error("RUN --mount source %s must name one file or folder of the build context" % source,
                            run.span.line, run.span.column)
        entry = found[0]
        mount.source = StagedSource("context", entry.path, staged, posixpath.basename(entry.path) or ".",
                                    directory=entry.is_dir, entries=entry.entries,
                                    leave_out=_outputs_below(ctx, entry.path) if entry.is_dir else [])


def _heredoc_for(source: str, heredocs):
    if not heredocs:
        return None
    name = source.lstrip("0123456789")
    if name.startswith("<<"):
        name = name[2:].lstrip("-").strip().strip("'\"")
        return heredocs.get(name)
    return None


def _from_stage(stages: _StageRefs, ref, source, staged) -> StagedSource:
    name = stages.stage_name(ref)
    path = "/" + source.lstrip("/")
    # A wildcard character (*, ? or [): three "in" tests cost half a regular expression search.
    wildcard = "*" in path or "?" in path or "[" in path
    trimmed = path.rstrip("/")
    return StagedSource(
        "stage",
        trimmed or "/",
        staged + ("/" if wildcard else ""),
        trimmed.rpartition("/")[2] or "root",  # posixpath.basename, without its three calls
        stage=name,
        wildcard=wildcard,
        directory=wildcard,
    )


def _remote(copy: Copy, source: str, staged: str, ctx: Context) -> StagedSource:
    checksum = copy.flag("checksum")
    digest = checksum.value if checksum else None
    if _GIT.match(source) and not source.lower().endswith((".tar", ".gz", ".tgz")):
        keep = copy.flag("keep-git-dir")
        keep_git_dir = keep is not None and (keep.value or "true").lower() == "true"
        path, why = _fetch_now(ctx.cloner, copy, source, ctx, digest, keep_git_dir)
        if path is not None:
            ctx.warn("D2S014", "ADD %s was checked out when converting, into %s; the build copies it from "
                     "there (a later commit needs a new conversion)" % (source, path),
                     copy.span.line, copy.span.column)
            return StagedSource("download", path, staged, "", directory=True)
        ctx.warn("D2S014", "ADD %s is cloned on the build host by %%setup (git must be installed there): %s"
                 % (source, why), copy.span.line, copy.span.column)
        return StagedSource("git", source, staged, "", directory=True, checksum=digest, keep_git_dir=keep_git_dir)
    name = posixpath.basename(source.split("?", 1)[0].split("#", 1)[0].rstrip("/")) or "__unnamed__"
    if "://" in source and source.split("://", 1)[1].count("/") == 0:
        name = "__unnamed__"
    path, why = _fetch_now(ctx.downloader, copy, source, ctx, name, digest)
    if path is not None:
        ctx.warn("D2S013", "ADD %s was downloaded when converting, into %s; the build copies it from there "
                 "(a later change on the server needs a new conversion)" % (source, path),
                 copy.span.line, copy.span.column)
        return StagedSource("download", path, staged, name, mode="0600")
    ctx.warn("D2S013", "ADD %s is downloaded on the build host by %%setup (curl or wget must be installed): %s"
             % (source, why), copy.span.line, copy.span.column)
    return StagedSource("url", source, staged, name, checksum=digest, mode="0600")


def _fetch_now(fetch, copy: Copy, source: str, ctx: Context, *args):
    """(path in the context, "") when ``fetch`` (download.fetch or clone) got the source now;
    (None, why not) when the build host has to."""
    if fetch is None or ctx.context_dir is None:
        return None, "d2s was run with --offline"
    from ..download import ChecksumError, DownloadError

    try:
        return fetch(source, ctx.context_dir, *args), ""
    except ChecksumError as err:  # BuildKit fails the build
        raise ctx.error("ADD %s: %s" % (source, err), copy.span.line, copy.span.column)
    except DownloadError as err:
        return None, "d2s could not fetch it (%s)" % err


def _context_sources(copy: Copy, source: str, staged: str, ctx: Context, local: "_LocalSources",
                     add) -> List[StagedSource]:
    if not ctx.context_dir:
        raise ctx.error("%s needs a build context to read %s from" % (copy.keyword, source), copy.span.line,
                        copy.span.column)
    clean = _clean_path(source)
    # (clean is relative and not empty: context_dir + "/" + clean names what os.path.join's path names)
    wildcard = "*" in source or "?" in source or "[" in source  # (as in _from_stage)
    if not wildcard and not os.path.lexists(ctx.context_dir + "/" + clean):
        # Docker fails the build here; the file may yet be made before the image is built.
        # (f-strings: a long message cost % twice as much, its whole text scanned for conversions)
        ctx.warn("D2S023", f"{copy.keyword} source {source} is not in the build context {ctx.context_dir}; the "
                 "build fails unless it is there then", copy.span.line, copy.span.column)
        return [StagedSource("context", clean, staged, clean.rpartition("/")[2] or ".")]  # basename
    excludes = copy.flag_values("exclude")
    parents = copy.flag("parents") is not None and (copy.flag("parents").value or "true").lower() == "true"
    try:
        found = local.resolve(source, excludes=excludes, parents=parents)
    except (OSError, ValueError) as err:
        raise ctx.error("%s: %s" % (copy.keyword, err), copy.span.line, copy.span.column)
    if not found:
        ctx.warn("D2S017", f"{copy.keyword} source {source} matched no file in the build context",
                 copy.span.line, copy.span.column)
        return []
    unpack_flag = copy.flag("unpack")
    unpack = add and (unpack_flag is None or (unpack_flag.value or "true").lower() == "true")
    if len(found) > 1 and not copy.destination.endswith("/"):
        copy.destination += "/"  # several matches of one pattern: the destination is a folder
    items = []
    pivot = _pivot(source) if parents else None
    for k, entry in enumerate(found):
        staged_path = staged if len(found) == 1 else "%s-%d" % (staged, k)
        extract = bool(unpack and not entry.is_dir and is_archive(os.path.join(ctx.context_dir, entry.path)))
        items.append(StagedSource(
            "context",
            entry.path,
            staged_path,
            getattr(entry, "name", None) or posixpath.basename(entry.path.rstrip("/")) or ".",
            directory=entry.is_dir or extract,
            extract=extract,
            entries=getattr(entry, "entries", None),
            parents=_kept_parents(entry.path, pivot) if parents else None,
            leave_out=_outputs_below(ctx, entry.path) if entry.is_dir else [],
        ))
    return items


def _clean_path(source: str) -> str:
    """A source's path relative to the context root, clamped to it: normpath("/" + source) less its
    leading "/" ("." for the root)."""
    path = "/" + source
    if "//" in path or "/." in path or path.endswith("/"):
        path = posixpath.normpath(path)
    # (else nothing for normpath, a Python function, to take out)
    return path.lstrip("/") or "."


def _outputs_below(ctx: Context, folder: str) -> List[str]:
    """d2s's own outputs under a context folder, relative to it (they may not exist yet)."""
    if not ctx.own_outputs:
        return []  # nothing to look for: spare realpath's file system calls
    root = os.path.realpath(os.path.join(ctx.context_dir, folder))
    found = []
    for output in ctx.own_outputs:
        relative = os.path.relpath(os.path.realpath(output), root)
        if not relative.startswith(".."):
            found.append(relative.replace(os.sep, "/"))
    return sorted(found)


def _pivot(source: str) -> str:
    """With --parents, the part of a source before ``/./`` is not kept under the destination."""
    clean = source.lstrip("/")
    if "/./" in clean:
        return posixpath.normpath(clean.split("/./", 1)[0])
    return ""


def _kept_parents(path: str, pivot: str) -> str:
    """The parent folders of ``path`` that COPY --parents recreates under the destination."""
    parent = posixpath.dirname(path.rstrip("/"))
    if pivot and pivot != "." and (parent == pivot or parent.startswith(pivot + "/")):
        parent = parent[len(pivot):].lstrip("/")
    return parent


# -- emission: what the COPY becomes in %setup / %files from / %post ------------------------------

def copy_lines(writer, copy: Copy) -> List[str]:
    """The %post lines of one COPY/ADD; staging lines go to the writer's %setup and %files from."""
    quote = shell.quote  # (an import statement here cost every COPY about a microsecond)

    post = []
    if copy.flags:
        chown, chmod, link = copy.flag("chown"), copy.flag("chmod"), copy.flag("link")
    else:  # most COPYs: no Instruction.flag call per name
        chown = chmod = link = None
    # Quoted once for every source: the owner, the mode and (without --parents) the destination.
    owner = _owner(chown.value) if chown is not None and chown.value else None
    mode = quote(chmod.value) if chmod is not None and chmod.value else None
    destination = quote(copy.destination)
    for item in copy.plan:
        staged = quote(item.staged.rstrip("/"))
        kind = item.kind
        if kind == "context":
            writer.setup += _setup_context(item)
        elif kind == "stage":
            writer.files_from.setdefault(item.stage, []).append(
                f"{_files_word(item.source)} {_files_word(item.staged)}")
        elif kind == "url":
            writer.setup += _setup_url(item)
        elif kind == "download":
            writer.setup += _setup_download(item)
        elif kind == "git":
            writer.setup += _setup_git(item)
        elif kind == "heredoc":
            from ..emit import _write_file

            post += _write_file(item.staged, item.body, item.mode)
        if owner is not None:
            post.append("chown -R %s %s" % (owner, staged))
        elif kind != "stage" and not item.extract:
            # Files from the context are owned by root in Docker (COPY --from keeps its owners).
            post.append(f"chown -R 0:0 {staged}")  # (f-strings: cheaper than % on the usual lines)
        if mode is not None:
            post.append("chmod -R %s %s" % (mode, staged))
        if item.parents:
            into = quote(copy.destination.rstrip("/") + "/" + item.parents + "/")
        else:
            into = destination
        if owner is None:
            post.append(f"d2s_copy {staged} {into} {quote(item.name)}")
        else:
            post.append("d2s_copy %s %s %s %s" % (staged, into, quote(item.name), owner))
    if link is not None:
        writer.ctx.warn("D2S012", "--link has no Apptainer equivalent; the files are copied the same way",
                        copy.span.line, copy.span.column)
    if copy.destination.startswith(("/tmp/", "/var/tmp/")) or copy.destination in ("/tmp", "/var/tmp"):
        writer.ctx.warn("D2S015", "%s is in the image, but Apptainer binds the host's folder over it when the "
                        "container runs (apptainer run --no-mount tmp shows it)" % copy.destination,
                        copy.span.line, copy.span.column)
    return post


def mount_lines(writer, run: Run):
    """(before, after) %post lines that make and undo a RUN's mounts; staging goes to %setup/%files."""
    quote = shell.quote

    before, after = [], []
    for mount in run.mounts:
        target = quote(mount.target)
        source = mount.source
        if source is None:
            before.append("d2s_mount '' %s" % target)
        else:
            if source.kind == "context":
                writer.setup.extend(_setup_context(source))
            else:
                writer.files_from.setdefault(source.stage, []).append(
                    "%s %s" % (_files_word(source.source), _files_word(source.staged)))
            before.append(f"d2s_mount {quote(source.staged.rstrip('/'))} {target}")
        after.insert(0, f"d2s_unmount {target}")
    return before, after


def _owner(value: str) -> str:
    """The chown argument for --chown: names resolve in the image at that point, as in Docker.

    A user alone (name or id) gets the group with the same numeric id as the user (Docker's rule).
    """
    quote = shell.quote

    if ":" in value:
        return quote(value)
    if value.isdigit():
        return "%s:%s" % (value, value)
    return '"$(id -u %s):$(id -u %s)"' % (quote(value), quote(value))


def _files_word(path: str) -> str:
    # The usual path, printable ASCII with no space or '"', has no character of _FILES_QUOTED (ASCII's
    # other blanks are control characters): str tests in C cost less than the regex's call.
    if " " not in path and '"' not in path and path.isascii() and path.isprintable():
        return path
    if _FILES_QUOTED.search(path):
        return '"%s"' % path
    return path


def _setup_context(item: StagedSource) -> List[str]:
    quote = shell.quote

    target = f'"$R"{quote(item.staged)}'
    source = quote(item.source or ".")
    if item.extract:
        return ["mkdir -p %s && tar -xf %s -C %s" % (target, source, target)]
    if not item.directory:  # (quote_parent's text, without its call)
        return [f'mkdir -p "$(dirname {target})" && cp -a -H {source} {target}']
    if item.entries is None:
        lines = [f"mkdir -p {target} && cp -a -H {source}/. {target}/"]
        if item.leave_out:  # d2s's own outputs (the .def, the image) are not the project's files
            lines += ['rm -rf %s/%s' % (target, quote(relative)) for relative in item.leave_out]
        return lines
    if not item.entries:
        return ["mkdir -p %s" % target]
    lines = ["mkdir -p %s && (cd %s && tar --no-recursion -cf - -- \\" % (target, source)]
    for n, entry in enumerate(item.entries):
        lines.append("    %s%s" % (quote(entry) if quote(entry).startswith("'") else "'%s'" % entry,
                                   " \\" if n < len(item.entries) - 1 else ""))
    lines[-1] += ") | tar -xpf - -C %s" % target
    return lines


def quote_parent(target: str) -> str:
    return '"$(dirname %s)"' % target


def _setup_download(item: StagedSource) -> List[str]:
    quote = shell.quote

    target = '"$R"%s' % quote(item.staged)
    if item.directory:  # a git checkout: its contents
        return ["mkdir -p %s && cp -a %s/. %s/" % (target, quote(item.source), target)]
    return ["mkdir -p %s && cp -p %s %s && chmod 600 %s" % (quote_parent(target), quote(item.source), target, target)]


def _setup_url(item: StagedSource) -> List[str]:
    quote = shell.quote

    target = '"$R"%s' % quote(item.staged)
    lines = [
        "mkdir -p %s" % quote_parent(target),
        "if command -v curl >/dev/null; then curl -fsSLR -o %s %s; else wget -q -O %s %s; fi"
        % (target, quote(item.source), target, quote(item.source)),
    ]
    if item.checksum:
        algorithm, _, digest = item.checksum.partition(":")
        lines.append("echo %s | %ssum -c -" % (quote("%s  " % digest) + '"$R"' + quote(item.staged),
                                              algorithm or "sha256"))
    lines.append("chmod 600 %s" % target)
    return lines


def _setup_git(item: StagedSource) -> List[str]:
    quote = shell.quote

    from ..download import git_parts

    target = '"$R"%s' % quote(item.staged)
    url, ref, subdir, keep = git_parts(item.source)
    keep = keep or item.keep_git_dir
    lines = ["git clone --quiet %s %s" % (quote(url), target)]
    if ref:
        lines.append("git -C %s checkout --quiet %s" % (target, quote(ref)))
    if item.checksum:
        lines.append('[ "$(git -C %s rev-parse HEAD)" = %s ]' % (target, quote(item.checksum)))
    if not keep:
        lines.append("rm -rf %s/.git" % target)
    if subdir:
        lines.append("mv %s %s.full && mv %s.full/%s %s && rm -rf %s.full"
                     % (target, target, target, quote(subdir), target, target))
    return lines
