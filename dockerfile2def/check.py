"""`d2s check`: find what breaks a recipe before it reaches the cluster.

Definition files are read with d2s's own parser (deffile.py), which follows Apptainer's: the
findings Apptainer would refuse the file for are errors (D2S200-D2S217), and the mistakes Apptainer
accepts but that build a wrong image are warnings (D2S220-D2S237). Dockerfiles (by name) are
converted with every diagnostic, and the .def generated from them is compared with what d2s writes
now (D2S240-D2S243). Every code is documented in docs/diagnostics.md.

Exit status: 0 clean, 1 findings at the failing level (errors; warnings too with --strict),
2 an input that cannot be read.
"""

import fnmatch
import glob
import json
import os
import posixpath
import re
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import D2SError, Diagnostic
from .records import Record

# code -> (severity, title). Titles are the headings of docs/diagnostics.md.
CHECK_CODES = {
    # What Apptainer refuses.
    "D2S200": ("error", "no stage: the file holds no definition"),
    "D2S201": ("error", "header line is not `Key: value`"),
    "D2S202": ("error", "unknown header keyword"),
    "D2S203": ("error", "a stage has no `Bootstrap:`"),
    "D2S204": ("error", "unknown bootstrap agent"),
    "D2S205": ("error", "the bootstrap agent lacks a header value it needs"),
    "D2S206": ("error", "invalid section name"),
    "D2S207": ("error", "app section without an app name"),
    "D2S208": ("error", "a stage without a header"),
    "D2S209": ("error", "`%files from` names no stage"),
    "D2S210": ("error", "`%files from` a later stage"),
    "D2S211": ("error", "`{{ name }}` without a value"),
    "D2S212": ("error", "`-c` without a shell"),
    "D2S213": ("error", "a %files line Apptainer cannot split"),
    "D2S214": ("error", "a header value continues into a blank or comment line"),
    "D2S215": ("error", "a section longer than 64 KiB"),
    "D2S216": ("error", "byte-order mark at the start of the file"),
    "D2S217": ("error", "`From:` is not an image reference"),
    # What Apptainer accepts, but builds wrong.
    "D2S220": ("warning", "relative %files destination"),
    "D2S221": ("warning", "%files source not found"),
    "D2S222": ("warning", "%files destination under /tmp or /var/tmp"),
    "D2S223": ("warning", "%files section ignored because of its arguments"),
    "D2S224": ("warning", "single-quoted %files path"),
    "D2S225": ("warning", "%post relies on the base image's Docker ENV"),
    "D2S226": ("warning", "%environment runs a command at every start"),
    "D2S227": ("warning", "%environment value cut at a space"),
    "D2S228": ("warning", "%environment variable never exported"),
    "D2S229": ("warning", "a %-line cuts a heredoc"),
    "D2S230": ("warning", "a `bootstrap:` line inside a script starts a new stage"),
    "D2S231": ("warning", "label key with spaces"),
    "D2S232": ("warning", "label written as KEY=value or KEY: value"),
    "D2S233": ("warning", "header value cut at `#`"),
    "D2S234": ("warning", "two stages with the same name"),
    "D2S235": ("warning", "%arguments line that is not KEY=value"),
    "D2S236": ("warning", "header value continued past the end of the header"),
    "D2S237": ("warning", "generated .def edited by hand"),
    # Dockerfiles.
    "D2S240": ("error", "the .def is out of date with its Dockerfile"),
    "D2S241": ("error", "the Dockerfile cannot be converted"),
    "D2S242": ("warning", "cannot tell whether the .def is up to date"),
    "D2S243": ("error", "the converted .def would be refused by Apptainer"),
}

FIXABLE = ("D2S204", "D2S206", "D2S215", "D2S216", "D2S220", "D2S223", "D2S225", "D2S232")

# Bootstrap agents of Apptainer 1.4 (exact case), and the header values each one cannot do without.
AGENTS = ("docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "library", "oras", "shub",
          "localimage", "yum", "dnf", "debootstrap", "zypper", "arch", "busybox", "scratch")
AGENTS_1_5 = ("buildkit", "dockerfile")
MANDATORY = {
    "docker": ("from",), "docker-archive": ("from",), "docker-daemon": ("from",), "oci": ("from",),
    "oci-archive": ("from",), "library": ("from",), "oras": ("from",), "shub": ("from",),
    "yum": ("mirrorurl",), "dnf": ("mirrorurl",), "debootstrap": ("osversion", "mirrorurl"), "busybox": ("mirrorurl",),
}
DOCKER_AGENTS = ("docker", "docker-archive", "docker-daemon", "oci", "oci-archive")

# Tools that images put on PATH through their Docker ENV (conda, Julia, Rust, Go, CUDA, ...).
ENV_TOOLS = ("conda", "mamba", "micromamba", "pixi", "julia", "juliaup", "cargo", "rustc", "rustup", "go", "gofmt",
             "nvcc", "spack", "mvn", "gradle", "poetry", "sdkmanager")
DOCKER_ENV_FILE = "/.singularity.d/env/10-docker2singularity.sh"
SOURCE_DOCKER_ENV = ("if [ -f %s ] && sh -n %s 2>/dev/null; then . %s; fi"
                     % (DOCKER_ENV_FILE, DOCKER_ENV_FILE, DOCKER_ENV_FILE))

DOCKERFILE_PATTERNS = ("Dockerfile", "*.Dockerfile", "Dockerfile.*", "*.dockerfile", "Containerfile",
                       "*.Containerfile", "Containerfile.*")
DEFINITION_PATTERNS = ("*.def", "Singularity", "Singularity.*", "Apptainer", "Apptainer.*")
_SKIP_DIRS = ("node_modules", "__pycache__", "venv")

# Variables the environment already exports when %environment runs: assigning them keeps them exported.
_INHERITED = ("PATH", "LANG", "LANGUAGE", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LD_LIBRARY_PATH",
              "PS1", "PWD")
_NOT_DEFINITIONS = (".md", ".txt", ".rst", ".py", ".sh", ".json", ".yaml", ".yml", ".sif", ".img", ".log")

_IGNORE = re.compile(r"#\s*d2s:\s*ignore(?:\[([^\]]*)\])?")


# -- findings --------------------------------------------------------------------------------------
#
# Plain classes rather than dataclasses: importing ``dataclasses`` (and ``inspect`` with it) cost
# every `d2s check`, a pre-commit hook, 6 ms at start-up. They keep a dataclass's constructor
# (a ``default_factory`` list becomes None and a fresh list); equality, repr and __hash__ = None come
# from records.Record.


class Fix(Record):
    """Replace physical lines (1-based) with lists of new lines (a list of several inserts lines)."""

    __slots__ = ("edits",)

    def __init__(self, edits: Dict[int, List[str]]):
        self.edits = edits


class Finding(Record):
    __slots__ = ("code", "message", "line", "column", "severity", "fix")

    def __init__(self, code: str, message: str, line: int, column: int = 1, severity: str = "",
                 fix: Optional[Fix] = None):
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        # "": the code's own severity in CHECK_CODES (an unknown code is a warning).
        self.severity = severity or CHECK_CODES.get(code, ("warning", ""))[0]
        self.fix = fix

    def diagnostic(self, path: str) -> Diagnostic:
        return Diagnostic(self.code, self.message, self.line, self.column, self.severity, path)


class FileReport(Record):
    __slots__ = ("path", "findings", "fixed", "unreadable")

    def __init__(self, path: str, findings: Optional[List[Finding]] = None, fixed: Optional[List[Finding]] = None,
                 unreadable: Optional[str] = None):
        self.path = path
        self.findings = [] if findings is None else findings
        self.fixed = [] if fixed is None else fixed
        self.unreadable = unreadable


def is_dockerfile(path: str) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in DOCKERFILE_PATTERNS)


# -- definition files ------------------------------------------------------------------------------


def check_definition(text: str, path: str = "<definition>", context_dirs: Sequence[str] = ()) -> List[Finding]:
    """Every finding on a definition file's text, ``# d2s: ignore[...]`` comments applied.

    ``context_dirs`` are the folders relative %files sources are looked for in (Apptainer reads them
    from the folder `apptainer build` runs in); none: the sources are not looked for.
    """
    from .deffile import parse_definition

    definition = parse_definition(text, path)
    findings = [Finding(p.code, p.message, p.line, p.column) for p in definition.problems]
    _fix_parse_problems(definition, findings)
    _RuleSet(definition, findings, context_dirs).run()
    return _apply_ignores(definition.lines, findings)


def _apply_ignores(lines: List[str], findings: List[Finding]) -> List[Finding]:
    ignored = {}
    for index, line in enumerate(lines):
        if "d2s:" not in line:
            continue
        found = _IGNORE.search(line)
        if found:
            codes = {c.strip().upper() for c in (found.group(1) or "").split(",") if c.strip()}
            ignored[index + 1] = codes or {"*"}
    kept = []
    for finding in findings:
        if finding.severity == "warning":
            silenced = False
            for at in (finding.line, finding.line - 1):
                codes = ignored.get(at)
                if codes and ("*" in codes or finding.code in codes):
                    silenced = True
            if silenced:
                continue
        kept.append(finding)
    kept.sort(key=lambda f: (f.line, f.column, f.code))
    return kept


def _fix_parse_problems(definition, findings: List[Finding]) -> None:
    """Attach the safe fixes of the parser's own problems (BOM, tab after a section name, long sections)."""
    lines = definition.lines
    for finding in findings:
        if finding.code == "D2S216" and lines and lines[0].startswith("\ufeff"):
            finding.fix = Fix({1: [lines[0][1:]]})
        elif finding.code == "D2S206":
            text = lines[finding.line - 1]
            head = text.lstrip("%")
            name = head.split(" ", 1)[0]
            if "\t" in name and text.startswith("%"):
                before = name.split("\t", 1)[0].lower()
                from .deffile import APP_SECTIONS, VALID_SECTIONS

                if before in VALID_SECTIONS or before in APP_SECTIONS:
                    at = text.index("\t")
                    finding.fix = Fix({finding.line: [text[:at] + " " + text[at + 1:].lstrip(" \t")]})
        elif finding.code == "D2S215":
            finding.fix = _split_long_section(definition, finding.line)


def _split_long_section(definition, line: int) -> Optional[Fix]:
    """Cut a long section into several with the same header line: Apptainer joins them back."""
    from .deffile import section_budget, section_cuts

    for stage in definition.stages:
        for n, section in enumerate(stage.sections):
            if section.line != line:
                continue
            header = definition.lines[line - 1]
            if header[:1] != "%":
                return None
            # Places to cut: before a line outside any heredoc and not after a continued line.
            heredocs, safe, sizes = _Heredocs(), [], []
            previous = ""
            for body in section.body:
                safe.append(not heredocs.open and not previous.endswith("\\"))
                sizes.append(len(definition.lines[body.line - 1].encode("utf-8", "surrogateescape")) + 1)
                heredocs.feed(body.text)
                previous = body.text
            cuts = section_cuts(sizes, safe, section_budget(header))
            if not cuts:
                return None
            return Fix({section.body[cut].line: [header, definition.lines[section.body[cut].line - 1]]
                        for cut in cuts})
    return None


class _Heredocs:
    """Follows shell heredocs line by line: ``open`` is the delimiter being waited for, if any."""

    _START = re.compile(r"(?<![<\\])<<(-?)[ \t]*(?:'([^'\n]+)'|\"([^\"\n]+)\"|\\?([A-Za-z_][A-Za-z0-9_.-]*))")

    def __init__(self):
        self.pending: List[Tuple[str, bool]] = []
        self.start_line = 0

    @property
    def open(self) -> Optional[str]:
        return self.pending[0][0] if self.pending else None

    def feed(self, text: str, line: int = 0) -> None:
        if self.pending:
            delimiter, strip_tabs = self.pending[0]
            candidate = text.lstrip("\t") if strip_tabs else text
            if candidate == delimiter:
                self.pending.pop(0)
            return
        if "<<" not in text:
            return
        stripped = text.strip()
        if stripped.startswith("#"):
            return
        for found in self._START.finditer(_without_quoted(text)):
            delimiter = found.group(2) or found.group(3) or found.group(4)
            self.pending.append((delimiter, found.group(1) == "-"))
            self.start_line = line


def _without_quoted(text: str) -> str:
    """The text with quoted strings blanked, so that "<<" inside quotes is not a heredoc.

    A quoted word right after "<<" is a heredoc delimiter and is kept.
    """
    out = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            end = text.find(char, i + 1)
            end = n - 1 if end == -1 else end
            if "".join(out).rstrip(" \t-").endswith("<<"):
                out.append(text[i:end + 1])
            else:
                out.append(char + " " * (end - i - 1) + (text[end] if end > i else ""))
            i = end + 1
        elif char == "\\":
            out.append(text[i:i + 2])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


class _RuleSet:
    def __init__(self, definition, findings: List[Finding], context_dirs: Sequence[str]):
        self.d = definition
        self.findings = findings
        self.context_dirs = list(context_dirs)

    def add(self, code: str, message: str, line: int, column: int = 1, fix: Optional[Fix] = None) -> None:
        self.findings.append(Finding(code, message, line, column, fix=fix))

    def run(self) -> None:
        stages = self.d.stages
        for stage in stages:
            self.header(stage)
            self.stage_refs(stage)
            self.section_args(stage)
            self.files(stage)
            self.docker_env(stage)
            self.environment(stage)
            self.labels(stage)
            self.arguments(stage)
        self.duplicate_stages()
        self.cut_scripts()
        self.edited()

    # -- header and bootstrap ------------------------------------------------------------------

    def header(self, stage) -> None:
        if not stage.has_header:
            where = stage.sections[0] if stage.sections else None
            self.add("D2S208", "this stage has no header (its first section comes before any 'Bootstrap:' line): "
                     "Apptainer refuses the file (multiple stages detected, all must have headers)",
                     where.line if where else stage.line, where.column if where else 1)
            return
        for entry in stage.entries:
            if entry.comment and entry.comment_column > 1 and entry.end_line == entry.line:
                text = self.d.lines[entry.line - 1]
                before = text[:entry.comment_column - 1]
                if before[-1:] not in (" ", "\t") and entry.value:
                    self.add("D2S233", "'#' cuts the value of '%s:': Apptainer uses '%s' and drops '%s'"
                             % (entry.raw_key, entry.value, entry.comment), entry.line, entry.comment_column)
        header = stage.header
        bootstrap = header.get("bootstrap")
        if bootstrap is None:
            first = stage.entries[0]
            later = any(s.line > stage.line and s.bootstrap is not None for s in self.d.stages)
            hint = ("; header lines above 'Bootstrap:' form a stage of their own, so put Bootstrap first"
                    if later else "")
            self.add("D2S203", "stage has no 'Bootstrap:' line: Apptainer refuses the file (no bootstrap "
                     "specification found)%s" % hint, first.line, first.column)
            return
        agent = bootstrap.value
        if agent == "":
            self.add("D2S205", "'Bootstrap:' has no value: Apptainer fails before building (unsupported transport)",
                     bootstrap.line, bootstrap.column)
            return
        if agent not in AGENTS:
            fix = None
            if agent.lower() in AGENTS:
                why = "the value is case-sensitive: write '%s'" % agent.lower()
                text = self.d.lines[bootstrap.line - 1]
                at = bootstrap.value_column - 1
                if text[at:at + len(agent)] == agent:
                    fix = Fix({bootstrap.line: [text[:at] + agent.lower() + text[at + len(agent):]]})
            elif agent.lower() in AGENTS_1_5:
                why = "the '%s' agent needs Apptainer 1.5 or later (SingularityCE has none)" % agent.lower()
            else:
                why = "known agents: %s" % ", ".join(AGENTS)
            self.add("D2S204", "unknown bootstrap agent '%s': Apptainer refuses the file (invalid build source %s); %s"
                     % (agent, agent, why), bootstrap.line, bootstrap.value_column, fix)
            return
        missing = False
        for key in MANDATORY.get(agent, ()):
            entry = header.get(key)
            if entry is None or entry.value == "":
                missing = True
                where = entry or bootstrap
                self.add("D2S205", "'Bootstrap: %s' needs a '%s:' value%s: Apptainer fails before building" % (
                    agent, _key_name(key), " (it is empty)" if entry is not None else ""), where.line, where.column)
        if agent == "docker" and not missing and "{{" not in header["from"].value:
            entry = header["from"]
            # Apptainer pulls docker://[Registry/][Namespace/]From.
            prefix = ""
            for key in ("registry", "namespace"):
                if header.get(key) and header[key].value:
                    prefix += header[key].value.strip("/") + "/"
            reference = prefix + entry.value
            why = _bad_reference(reference)
            if why:
                self.add("D2S217", "'%s' is not an image reference Apptainer can pull (%s): it fails before "
                         "building (could not parse reference: %s)" % (reference, why, reference),
                         entry.line, entry.value_column)

    # -- %files from, script arguments ----------------------------------------------------------

    def stage_refs(self, stage) -> None:
        names = [s.name for s in self.d.stages]
        for section in stage.sections:
            if section.kind != "files" or not section.clean_args:
                continue
            fields = section.clean_args.split()
            if len(fields) != 2:
                continue
            name = fields[1]
            if name not in names:
                known = ", ".join(n for n in names if n) or "none"
                self.add("D2S209", "%%files from %s: no stage is named '%s' (stage names: %s); Apptainer fails the "
                         "build (stage %s was not found)" % (name, name, known, name), section.line, section.column)
                continue
            index = names.index(name)
            if index > stage.index and any(entry.src for entry in section.files):
                self.add("D2S210", "%%files from %s: stage '%s' comes later in the file; Apptainer builds stages in "
                         "order and finds nothing to copy. Move it above this stage" % (name, name),
                         section.line, section.column)

    def section_args(self, stage) -> None:
        for name in ("pre", "setup", "post"):
            sections = [s for s in stage.sections if s.name == name and s.kind == "standard"]
            if not sections:
                continue
            script = stage.post_script() if name == "post" else "".join(s.script for s in sections)
            if not script:
                continue
            given = [s for s in sections if s.args is not None]
            if not given:
                continue
            last = given[-1]
            params = last.clean_args.split()
            if "-c" in params and params.index("-c") == len(params) - 1:
                self.add("D2S212", "%%%s -c needs a shell after it (%%%s -c /bin/bash): Apptainer fails the build "
                         "(bad %s section '-c' parameter: missing arguments)" % (name, name, name),
                         last.line, last.column)

    # -- %files ---------------------------------------------------------------------------------

    def files(self, stage) -> None:
        for section in stage.sections:
            if section.kind != "files":
                continue
            clean = section.clean_args
            from_stage = None
            if clean:
                fields = clean.split()
                if len(fields) != 2:
                    fix = None
                    if not clean.strip():
                        text = self.d.lines[section.line - 1]
                        comment = (section.args or "")[len(clean):]
                        indent = text[:_indent(text)]
                        fix = Fix({section.line: [indent + section.header_text.split(" ", 1)[0]
                                                  + (" " + comment if comment else "")]})
                    what = ("whitespace after %files" if not clean.strip()
                            else "'%s' is neither empty nor 'from STAGE'" % clean.strip())
                    self.add("D2S223", "Apptainer ignores this whole %%files section: %s" % what,
                             section.line, section.column, fix)
                    continue
                from_stage = fields[1]
            for entry in section.files:
                self.file_entry(entry, from_stage)

    def file_entry(self, entry, from_stage: Optional[str]) -> None:
        for token, column in ((entry.src_token, entry.column), (entry.dst_token, entry.dst_column)):
            if token.startswith("'"):
                self.add("D2S224", "single quotes do not group a %files path: Apptainer splits at the space inside "
                         "and keeps the quote; use double quotes", entry.line, column)
                return
        if not entry.src:
            return
        dst = entry.dst
        if dst and not dst.startswith("/") and "{{" not in dst:
            text = self.d.lines[entry.line - 1]
            at = entry.dst_column - 1
            token = entry.dst_token
            fix = None
            if text[at:at + len(token)] == token:
                new = '"/' + token[1:] if token.startswith('"') else "/" + token
                fix = Fix({entry.line: [text[:at] + new + text[at + len(token):]]})
            self.add("D2S220", "%%files destination '%s' is relative: Apptainer puts it under / ('%s'), not under "
                     "the image's WORKDIR" % (dst, posixpath.normpath("/" + dst) + ("/" if dst.endswith("/") else "")),
                     entry.line, entry.dst_column, fix)
        target = dst if dst else entry.src
        if "{{" not in target:
            normal = posixpath.normpath("/" + target.lstrip("/"))
            for tmp in ("/tmp", "/var/tmp"):
                if normal == tmp or normal.startswith(tmp + "/"):
                    self.add("D2S222", "%%files puts '%s' under %s: the host's %s is mounted over it in %%post and "
                             "when the container runs, so the file is not seen" % (target, tmp, tmp),
                             entry.line, entry.dst_column if dst else entry.column)
                    break
        if from_stage is None and self.context_dirs:
            self.host_source(entry)

    def host_source(self, entry) -> None:
        src = entry.src
        if src.startswith("/") or src.startswith("~") or "{{" in src or "$" in src:
            return
        if re.search(r"[@!?*+]\(", src):
            return  # bash extended globs: not evaluated here
        for folder in self.context_dirs:
            path = os.path.join(folder, src)
            if os.path.lexists(path):
                return
            if any(c in src for c in "*?[") and glob.glob(path, recursive=True):
                return
        where = " or ".join(sorted(set(_show_dir(d) for d in self.context_dirs)))
        self.add("D2S221", "%%files source '%s' is not in %s: Apptainer copies from the folder `apptainer build` "
                 "runs in, and fails when nothing matches" % (src, where), entry.line, entry.column)

    # -- %post and the base image's ENV ---------------------------------------------------------

    _COMMAND = re.compile(r"(?:^|[;&|(`]|\$\(|\b(?:then|do|else|exec|sudo|time|command|env|xargs)\s)\s*"
                          r"(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*([A-Za-z][A-Za-z0-9_.+-]*)(?=\s|$|;)")

    def docker_env(self, stage) -> None:
        bootstrap = stage.bootstrap
        if bootstrap is None or bootstrap.value not in DOCKER_AGENTS:
            return
        posts = [s for s in stage.sections if (s.name == "post" and s.kind == "standard")
                 or (s.name == "appinstall" and s.kind == "app")]
        for section in posts:
            for body in section.body:
                text = body.text.strip()
                if not text or text.startswith("#"):
                    continue
                if ("PATH=" in text or "/.singularity.d/env" in text or "profile.d/conda.sh" in text
                        or "mamba.sh" in text or "shellHook" in text):
                    return  # the script sets its environment itself
                for found in self._COMMAND.finditer(text):
                    tool = found.group(1)
                    if tool in ENV_TOOLS:
                        self.add("D2S225", "%%post runs '%s', which the base image puts on PATH through its Docker "
                                 "ENV: older engines run %%post without that ENV (Singularity 2), and Apptainer 1.4 "
                                 "and older lose all of it when one value holds a backtick; set PATH or source %s "
                                 "first" % (tool, DOCKER_ENV_FILE), body.line, found.start(1) + 1 + _indent(body.text),
                                 self._source_env_fix(stage))
                        return

    def _source_env_fix(self, stage) -> Optional[Fix]:
        posts = [s for s in stage.sections if s.name == "post" and s.kind == "standard"]
        if not posts:
            return None
        section = posts[0]
        header = self.d.lines[section.line - 1]
        if header.lstrip() != header:
            return None
        indent = "    "
        for body in section.body:
            if body.text.strip():
                indent = body.text[:_indent(body.text)]
                break
        return Fix({section.line: [header, indent + SOURCE_DOCKER_ENV]})

    # -- %environment ---------------------------------------------------------------------------

    def environment(self, stage) -> None:
        sections = [s for s in stage.sections if (s.name == "environment" and s.kind == "standard")
                    or (s.name == "appenv" and s.kind == "app")]
        if not sections:
            return
        assigned: Dict[str, Tuple[int, int]] = {}
        exported = set()
        used = set()
        allexport = False
        for section in sections:
            for body in section.body:
                text = body.text
                stripped = text.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                words, code_at = _shell_words(text)
                if code_at is not None:
                    self.add("D2S226", "%%environment runs %s at every start of the container (Apptainer sources "
                             "it each time): compute the value in %%post and write it literally, export NAME='value'"
                             % ("a command substitution" if text[code_at] != "`" else "a backtick command"),
                             body.line, code_at + 1)
                for ref in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text):
                    used.add(ref)
                if re.search(r"\bset\s+(-[A-Za-z]*a|-o\s+allexport)", text):
                    allexport = True
                self._statements(words, body, assigned, exported)
        if allexport:
            return
        for name, (line, column) in assigned.items():
            if name not in exported and name not in used and name not in _INHERITED and not name.startswith("LC_"):
                self.add("D2S228", "%%environment sets %s without exporting it: the program in the container does "
                         "not see it; write export %s=..." % (name, name), line, column)

    def _statements(self, words, body, assigned, exported) -> None:
        statement: List[Tuple[str, int, bool]] = []
        for word in words + [(";", -1, "op")]:
            text, column, quoted = word
            if quoted == "op" or column == -1:
                self._statement(statement, body, assigned, exported)
                statement = []
            else:
                statement.append(word)

    def _statement(self, words, body, assigned, exported) -> None:
        if not words:
            return
        head = words[0][0]
        is_export = head in ("export", "declare", "typeset", "readonly") and (
            head == "export" or any(w[0].startswith("-") and "x" in w[0] for w in words[1:]))
        rest = words[1:] if is_export else words
        previous_unquoted_value = None
        options = is_export
        mine = {}
        for text, column, quoted in rest:
            if options and text.startswith("-"):
                continue
            options = False
            match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(\+?=)(.*)", text, re.S)
            if match and not quoted[:1] == "q":
                name, value = match.group(1), match.group(3)
                if is_export:
                    exported.add(name)
                else:
                    mine.setdefault(name, (body.line, column + 1))
                previous_unquoted_value = (name, value) if value and not _word_quoted(quoted) else None
                continue
            if previous_unquoted_value is not None:
                name, value = previous_unquoted_value
                self.add("D2S227", "%%environment: the value of %s ends at the space before '%s' (%s); quote the "
                         "whole value: export %s='%s %s'" % (
                             name, text, "exported as a variable of its own" if is_export
                             else "run as a command at every start", name, value, text),
                         body.line, column + 1)
                return
            if is_export and re.match(r"[A-Za-z_][A-Za-z0-9_]*$", text):
                exported.add(text)
                continue
            if not is_export:
                return  # a command run with these variables, not assignments
        for name, where in mine.items():
            assigned.setdefault(name, where)

    # -- %labels, %arguments --------------------------------------------------------------------

    def labels(self, stage) -> None:
        for section in stage.sections:
            if section.name != "labels" or section.kind != "standard":
                continue
            for label in section.labels:
                key = label.key
                if key[:1] in ("'", '"') or "\t" in key:
                    self.add("D2S231", "label key %s: Apptainer takes the key up to the first space, so this "
                             "sets the label '%s'; label keys cannot contain spaces (use dots or dashes)"
                             % (key, key), label.line, label.column)
                    continue
                text = self.d.lines[label.line - 1]
                at = label.column - 1
                if "=" in key and not key.startswith("="):
                    name, _, value = key.partition("=")
                    fix = None
                    if not label.value and "=" not in value and text[at:at + len(key)] == key:
                        value = _unquote(value)
                        fix = Fix({label.line: [text[:at] + name + (" " + value if value else "")]})
                    self.add("D2S232", "%%labels line '%s' is Dockerfile syntax: Apptainer sets the label '%s' with "
                             "%s; write 'KEY value'" % (go_strip(text), key,
                                                        "the value '%s'" % label.value if label.value else "no value"),
                             label.line, label.column, fix)
                elif key.endswith(":") and len(key) > 1:
                    fix = None
                    if text[at:at + len(key)] == key:
                        fix = Fix({label.line: [text[:at] + key[:-1] + text[at + len(key):]]})
                    self.add("D2S232", "%%labels line '%s': Apptainer sets the label '%s' (colon included); write "
                             "'KEY value'" % (go_strip(text), key), label.line, label.column, fix)

    def arguments(self, stage) -> None:
        for section in stage.sections:
            if section.name != "arguments" or section.kind != "standard":
                continue
            for arg in section.arguments:
                if arg.key is None:
                    self.add("D2S235", "%%arguments line '%s' is not KEY=value: Apptainer skips it" % arg.text,
                             arg.line, arg.column)

    # -- across stages --------------------------------------------------------------------------

    def duplicate_stages(self) -> None:
        seen = {}
        for stage in self.d.stages:
            entry = stage.header.get("stage")
            if entry is None or not entry.value:
                continue
            if entry.value in seen:
                self.add("D2S234", "a stage named '%s' already starts at line %d: '%%files from %s' always copies "
                         "from that first one" % (entry.value, seen[entry.value], entry.value),
                         entry.line, entry.column)
            else:
                seen[entry.value] = stage.line

    def cut_scripts(self) -> None:
        """%-lines and bootstrap: lines that land inside a heredoc (or a script) and cut it."""
        from .deffile import SCRIPT_SECTIONS

        items = []
        for stage in self.d.stages:
            items.append(("stage", stage.line, stage))
            for section in stage.sections:
                items.append(("section", section.line, section))
        items.sort(key=lambda item: item[1])
        heredoc = None
        previous = None  # the section the current line belongs to, if any
        for kind, line, node in items:
            if heredoc is not None and heredoc.open:
                opened = "the heredoc opened at line %d (<<%s)" % (heredoc.start_line, heredoc.open)
                if kind == "section":
                    self.add("D2S229", "this line is inside %s, but Apptainer starts a new section at every line whose "
                             "first word begins with %%: the script is cut here" % opened, line, node.column)
                else:
                    self.add("D2S230", "this line is inside %s, but Apptainer starts a new stage at every line "
                             "beginning with 'bootstrap:'; the rest of the file becomes a new stage" % opened, line, 1)
            elif kind == "stage" and previous is not None and previous.body and node.bootstrap is not None \
                    and node.line == node.bootstrap.line \
                    and node.bootstrap.value.lower() not in AGENTS + AGENTS_1_5:
                self.add("D2S230", "this 'bootstrap:' line follows the %%%s section's text: Apptainer starts a new "
                         "stage at every line beginning with 'bootstrap:', inside a section too" % previous.name,
                         line, 1)
            if kind == "section":
                previous = node
                if node.name in SCRIPT_SECTIONS and node.kind in ("standard", "app"):
                    if heredoc is None or not heredoc.open:
                        heredoc = _Heredocs()
                    for body in node.body:
                        heredoc.feed(body.text, body.line)
                elif heredoc is not None and heredoc.open:
                    for body in node.body:
                        heredoc.feed(body.text, body.line)
                else:
                    heredoc = None
            else:
                previous = None
                if heredoc is not None and heredoc.open:
                    # A stage cut inside a heredoc: follow the heredoc through the new stage's header.
                    for number in range(node.line, (node.sections[0].line if node.sections else node.end_line + 1)):
                        heredoc.feed(self.d.lines[number - 1], number)

    def edited(self) -> None:
        from .output import ownership

        if ownership(self.d.text) == "edited":
            self.add("D2S237", "d2s generated this file and it was changed by hand since: the next "
                     "`d2s convert` overwrites the change (edit the Dockerfile instead, or remove the "
                     "'# Generated by d2s' line to keep the file as yours)", 1, 1)


_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")


def _bad_reference(reference: str) -> Optional[str]:
    """Why Apptainer cannot parse a docker image reference, for the cases it certainly refuses; else None."""
    if re.search(r"\s", reference):
        return "it contains a space"
    if "://" in reference:
        return "write it without the transport: From takes registry/name:tag"
    name, at, digest = reference.partition("@")
    if at and not _DIGEST.match(digest):
        return "'@%s' is not a digest (algorithm:hex)" % digest
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host may have upper case and a port
    for part in parts[:-1]:
        if ":" in part:
            return "':' inside the repository path (a registry given twice?)"
    if parts[-1].count(":") > 1:
        return "more than one ':' in the name and tag"
    path = "/".join(parts).split(":", 1)[0] if parts else ""
    if path != path.lower():
        return "repository names are lower case"
    return None


def _key_name(key: str) -> str:
    names = {"from": "From", "mirrorurl": "MirrorURL", "osversion": "OSVersion"}
    return names.get(key, key.capitalize())


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def go_strip(text: str) -> str:
    from .deffile import GO_SPACE

    return text.strip(GO_SPACE)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _show_dir(folder: str) -> str:
    try:
        rel = os.path.relpath(folder)
    except ValueError:
        return folder
    return "the current folder" if rel == "." else rel + "/"


def _word_quoted(kind: str) -> bool:
    return "q" in kind


def _shell_words(text: str):
    """Split a shell line into (word, column, quoting) and operators; also where a command runs, if it does.

    ``quoting`` is "" for a plain word, "q" when quoted as a whole, "p" when partly quoted.
    """
    words = []
    code_at = None
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in " \t":
            i += 1
            continue
        if char == "#":
            break
        if char in ";&|":
            op = text[i:i + 2] if text[i:i + 2] in ("&&", "||") else char
            words.append((op, i, "op"))
            i += len(op)
            continue
        start = i
        parts = []
        quoted_chars = 0
        while i < n and text[i] not in " \t;&|":
            char = text[i]
            if char == "'":
                end = text.find("'", i + 1)
                end = n if end == -1 else end
                parts.append(text[i + 1:end])
                quoted_chars += end - i + 1
                i = end + 1
            elif char == '"':
                j = i + 1
                while j < n and text[j] != '"':
                    if text[j] == "\\":
                        j += 1
                    elif text[j] == "`" or text[j:j + 2] == "$(":
                        code_at = j if code_at is None else code_at
                    j += 1
                parts.append(text[i + 1:j])
                quoted_chars += j - i + 1
                i = j + 1
            elif char == "\\":
                parts.append(text[i + 1:i + 2])
                i += 2
            elif char == "`" or text[i:i + 2] == "$(":
                code_at = i if code_at is None else code_at
                depth, j = 0, i
                # skip to the matching close so that spaces inside do not split the word
                if char == "`":
                    close = text.find("`", i + 1)
                    j = n if close == -1 else close + 1
                else:
                    while j < n:
                        if text[j] == "(":
                            depth += 1
                        elif text[j] == ")":
                            depth -= 1
                            if depth == 0:
                                j += 1
                                break
                        j += 1
                parts.append(text[i:j])
                i = j
            else:
                parts.append(char)
                i += 1
        word = "".join(parts)
        length = i - start
        kind = "q" if quoted_chars == length else ("p" if quoted_chars else "")
        if kind == "p":
            # NAME='value': the value is quoted though the name is not.
            raw = text[start:i]
            eq = raw.find("=")
            if eq != -1 and raw[eq + 1:eq + 2] in ("'", '"'):
                kind = "pq"
        words.append((word, start, kind))
    return words, code_at


# -- Dockerfiles -----------------------------------------------------------------------------------


def check_dockerfile(text: str, path: str, against: Optional[str] = None) -> List[Finding]:
    """Convert the Dockerfile with every diagnostic, and compare it with the .def generated from it."""
    from . import convert
    from .output import GENERATED_MARK, ownership, stamp

    folder = os.path.dirname(os.path.abspath(path))
    try:
        result = convert(text, context=folder, path=path, lookup_base=True)
    except D2SError as err:
        return _apply_ignores(text.splitlines(), [Finding("D2S241", "d2s cannot convert this Dockerfile: %s"
                                                          % err.message, err.line, err.column)])
    findings = [Finding(d.code, d.message, d.line, d.column, d.severity) for d in result.diagnostics]
    refused = [f for f in check_definition(result.definition, "<converted>") if f.severity == "error"]
    if any(d.code == "D2S024" for d in result.diagnostics):
        # {{ ARG }} in From: on purpose (D2S024): Apptainer takes its value from --build-arg.
        refused = [f for f in refused if f.code != "D2S211"]
    for problem in refused:
        findings.append(Finding("D2S243", "the .def d2s writes for this Dockerfile would be refused by Apptainer "
                                "(line %d of the .def: %s: %s)" % (problem.line, problem.code, problem.message), 1, 1))
    name = os.path.basename(path)
    expected = stamp(name, result.definition)
    targets = [against] if against else _generated_siblings(folder, name, GENERATED_MARK)
    for target in targets:
        try:
            with open(target, encoding="utf-8", newline="") as handle:
                current = handle.read()
        except (OSError, UnicodeDecodeError) as err:
            findings.append(Finding("D2S242", "cannot read %s to compare it: %s" % (target, _reason(err)), 1, 1))
            continue
        if current == expected:
            continue
        shown = os.path.relpath(target)
        state = ownership(current)
        if state == "foreign":
            findings.append(Finding("D2S242", "%s was not generated by d2s, so it cannot be compared with this "
                                    "Dockerfile" % shown, 1, 1))
        elif state == "edited":
            findings.append(Finding("D2S242", "%s was generated by d2s and then edited by hand; d2s cannot tell "
                                    "whether it still matches this Dockerfile" % shown, 1, 1))
        elif any(d.code == "D2S002" for d in result.diagnostics):
            findings.append(Finding("D2S242", "%s differs from what d2s writes now, but the base image's "
                                    "configuration could not be read from its registry, which changes the "
                                    "output; check again with the registry reachable" % shown, 1, 1))
        else:
            findings.append(Finding("D2S240", "%s is out of date with this Dockerfile: run `d2s convert %s %s`"
                                    % (shown, os.path.relpath(path), shown), 1, 1))
    return _apply_ignores(text.splitlines(), findings)


def _generated_siblings(folder: str, name: str, mark: str) -> List[str]:
    prefix = "%s from %s;" % (mark, name)
    found = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return found
    for entry in entries:
        if not entry.endswith(".def"):
            continue
        path = os.path.join(folder, entry)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                first = handle.readline()
        except OSError:
            continue
        if first.startswith(prefix):
            found.append(path)
    return found


def _reason(err: BaseException) -> str:
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text"
    return getattr(err, "strerror", None) or str(err)


# -- the command -----------------------------------------------------------------------------------


def expand_paths(paths: Sequence[str]) -> List[str]:
    """Files to check: the files named, and the definition files and Dockerfiles under folders named."""
    found = []
    for path in paths or ["."]:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                for name in sorted(files):
                    if is_dockerfile(name) or (any(fnmatch.fnmatchcase(name, p) for p in DEFINITION_PATTERNS)
                                               and not name.lower().endswith(_NOT_DEFINITIONS)):
                        found.append(os.path.normpath(os.path.join(root, name)))
        else:
            found.append(path)
    return found


def check_file(path: str, against: Optional[str] = None, fix: bool = False) -> FileReport:
    report = FileReport(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        report.unreadable = "no such file"
        return report
    except IsADirectoryError:
        report.unreadable = "is a directory"
        return report
    except OSError as err:
        report.unreadable = err.strerror or str(err)
        return report
    if is_dockerfile(path):
        try:
            from .conversion import decode_source

            text = decode_source(raw, path)
        except D2SError as err:
            report.unreadable = err.message
            return report
        report.findings = check_dockerfile(text, path, against)
        return report
    text = raw.decode("utf-8", "surrogateescape")
    contexts = _context_dirs(path)
    findings = check_definition(text, path, contexts)
    if fix:
        fixed_all = []
        for _ in range(4):
            fixable = [f for f in findings if f.fix is not None]
            if not fixable:
                break
            new_text, applied = apply_fixes(text, fixable)
            if not applied or new_text == text:
                break
            fixed_all.extend(applied)
            text = new_text
            findings = check_definition(text, path, contexts)
        if fixed_all:
            from .output import write_atomic

            _write_raw(path, text, write_atomic)
            report.fixed = fixed_all
    report.findings = findings
    return report


def _write_raw(path: str, text: str, write_atomic) -> None:
    # write_atomic writes str as UTF-8; undecodable bytes of the original come back through surrogateescape.
    if any("\udc80" <= c <= "\udcff" for c in text):
        folder = os.path.dirname(os.path.abspath(path))
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".d2s-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8", "surrogateescape"))
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    else:
        write_atomic(path, text)


def _context_dirs(path: str) -> List[str]:
    folders = [os.path.dirname(os.path.abspath(path)), os.getcwd()]
    return list(dict.fromkeys(folders))


def apply_fixes(text: str, findings: Iterable[Finding]) -> Tuple[str, List[Finding]]:
    """Apply the fixes that do not touch the same lines; returns the new text and the findings fixed."""
    pieces = text.split("\n")
    final_break = text.endswith("\n")
    if final_break:
        pieces.pop()
    edits: Dict[int, List[str]] = {}
    applied = []
    for finding in findings:
        fix = finding.fix
        if fix is None or any(line in edits for line in fix.edits):
            continue
        if any(line < 1 or line > len(pieces) for line in fix.edits):
            continue
        edits.update(fix.edits)
        applied.append(finding)
    out = []
    for number, raw in enumerate(pieces, 1):
        if number in edits:
            cr = "\r" if raw.endswith("\r") else ""
            out.extend(new + cr for new in edits[number])
        else:
            out.append(raw)
    return "\n".join(out) + ("\n" if final_break else ""), applied


def check_command(paths: List[str], against: Optional[str], fmt: str, strict: bool, fix: bool) -> int:
    """`d2s check`: returns the exit status (0 clean, 1 findings at the failing level, 2 unreadable input)."""
    from .__main__ import UsageError

    if fmt not in ("text", "json", "sarif"):
        raise UsageError("must be text, json or sarif", "--format")
    files = expand_paths(paths)
    if against is not None:
        dockerfiles = [p for p in files if is_dockerfile(p)]
        if len(dockerfiles) != 1:
            raise UsageError("compares one Dockerfile with one .def: name exactly one Dockerfile", "--against")
    reports = [check_file(path, against=against if is_dockerfile(path) else None, fix=fix) for path in files]
    out = sys.stdout
    if fmt == "json":
        json.dump(_json_report(reports), out, indent=2)
        out.write("\n")
    elif fmt == "sarif":
        json.dump(_sarif_report(reports), out, indent=2)
        out.write("\n")
    else:
        _text_report(reports, out)
    errors = sum(1 for r in reports for f in r.findings if f.severity == "error")
    warnings = sum(1 for r in reports for f in r.findings if f.severity == "warning")
    if any(r.unreadable for r in reports):
        return 2
    if errors or (strict and warnings):
        return 1
    return 0


def _text_report(reports: List[FileReport], out) -> None:
    errors = warnings = fixable = 0
    for report in reports:
        if report.unreadable:
            sys.stderr.write("%s:1:1: error: %s\n" % (report.path, report.unreadable))
            continue
        for finding in report.fixed:
            sys.stderr.write("%s:%d:%d: fixed[%s]: %s\n" % (report.path, finding.line, finding.column, finding.code,
                                                           _safe(finding.message)))
        sys.stderr.flush()
        for finding in report.findings:
            out.write(_safe(finding.diagnostic(report.path).format()) + "\n")
            errors += finding.severity == "error"
            warnings += finding.severity == "warning"
            fixable += finding.fix is not None
    out.flush()
    sys.stderr.flush()
    fixed = sum(len(r.fixed) for r in reports)
    if errors or warnings or fixed:
        parts = ["%d error(s), %d warning(s) in %d file(s)" % (errors, warnings, len(reports))]
        if fixed:
            parts.append("%d fixed" % fixed)
        if fixable:
            parts.append("%d fixable with --fix" % fixable)
        sys.stderr.write("d2s check: %s\n" % "; ".join(parts))


def _safe(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8") if any("\udc80" <= c <= "\udcff" for c in text) else text


def _json_report(reports: List[FileReport]) -> dict:
    diagnostics, unreadable, fixed = [], [], []
    for report in reports:
        if report.unreadable:
            unreadable.append({"path": report.path, "message": report.unreadable})
            continue
        for finding in report.findings:
            item = finding.diagnostic(report.path).as_dict()
            item["message"] = _safe(item["message"])
            item["fixable"] = finding.fix is not None
            diagnostics.append(item)
        for finding in report.fixed:
            fixed.append({"path": report.path, "line": finding.line, "column": finding.column, "code": finding.code,
                          "message": _safe(finding.message)})
    return {
        "files": len(reports),
        "diagnostics": diagnostics,
        "fixed": fixed,
        "unreadable": unreadable,
        "summary": {
            "errors": sum(1 for d in diagnostics if d["severity"] == "error"),
            "warnings": sum(1 for d in diagnostics if d["severity"] == "warning"),
        },
    }


def _titles() -> Dict[str, str]:
    titles = {code: title for code, (_, title) in CHECK_CODES.items()}
    try:
        from .codes import CODES

        titles.update(CODES)
    except ImportError:  # pragma: no cover
        pass
    return titles


def _sarif_report(reports: List[FileReport]) -> dict:
    from . import __version__

    titles = _titles()
    used = sorted({f.code for r in reports for f in r.findings})
    rules = []
    for code in used:
        severity = CHECK_CODES.get(code, ("warning", ""))[0]
        rules.append({
            "id": code,
            "name": code,
            "shortDescription": {"text": titles.get(code, code)},
            "help": {"text": "docs/diagnostics.md, section '%s — %s' (#%s)"
                             % (code, titles.get(code, ""), _anchor(code, titles.get(code, "")))},
            "defaultConfiguration": {"level": severity},
        })
    index = {code: n for n, code in enumerate(used)}
    results, notifications = [], []
    for report in reports:
        uri = report.path.replace(os.sep, "/")
        if report.unreadable:
            notifications.append({
                "level": "error",
                "message": {"text": "%s: %s" % (report.path, report.unreadable)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
            })
            continue
        for finding in report.findings:
            results.append({
                "ruleId": finding.code,
                "ruleIndex": index[finding.code],
                "level": finding.severity,
                "message": {"text": _safe(finding.message)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": finding.line, "startColumn": finding.column},
                }}],
            })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "d2s", "version": __version__, "rules": rules}},
            "invocations": [{"executionSuccessful": not notifications,
                             "toolExecutionNotifications": notifications}],
            "results": results,
        }],
    }


def _anchor(code: str, title: str) -> str:
    """The GitHub anchor of the heading '## CODE — title' in docs/diagnostics.md."""
    text = ("%s — %s" % (code, title)).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")
