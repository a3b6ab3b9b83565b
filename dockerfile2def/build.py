"""`d2s build`: convert (if needed) and build an image with Apptainer or Singularity.

What this module does, in order:

* finds the engine (``--engine``, else ``$D2S_ENGINE``, else ``apptainer`` then ``singularity`` on PATH)
  and reads its version (:func:`parse_version`) into a flavour and a comparable release;
* converts a Dockerfile input with :func:`dockerfile2def.convert` and writes the .def beside it (stamped,
  atomically, never over a file d2s did not write unless ``--force``);
* checks that the engine has what the .def needs (:func:`engine_features`, :func:`requirements`);
* runs ``<engine> build`` from the build context folder (``%files`` and ``%setup`` read paths relative to
  the working directory) into a temporary name beside the target, renamed into place only on success;
* streams the engine's output (plain lines, or a compact progress display on a terminal) and, when the
  build fails, points at the Dockerfile line behind the failing step and explains known failures.

Exit status: the engine's; 2 for d2s's own usage and input errors (nothing was built); 127 when no
engine is installed; 130/143/129 when interrupted by SIGINT/SIGTERM/SIGHUP.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import D2SError

ENGINE_NAMES = ("apptainer", "singularity")
USAGE = 2
NOT_FOUND = 127
TMP_PREFIX = ".d2s-tmp-"

# --------------------------------------------------------------------------------------------------
# Engine versions


@dataclass(frozen=True)
class EngineVersion:
    """An engine's flavour and release, comparable through :attr:`release`.

    ``flavour`` is ``apptainer``, ``singularityce`` (Sylabs' SingularityCE, 3.8+), ``singularitypro``
    (Sylabs' SingularityPRO, versioned like ``3.5-2.el7``) or ``singularity`` (Singularity up to 3.8
    before the split, and 2.x). ``release`` has three numbers; ``text`` is what the engine printed.
    """

    flavour: str
    release: Tuple[int, int, int]
    text: str = ""

    @property
    def number(self) -> str:
        return ".".join(str(n) for n in self.release)

    def describe(self) -> str:
        names = {
            "apptainer": "Apptainer",
            "singularityce": "SingularityCE",
            "singularitypro": "SingularityPRO",
            "singularity": "Singularity",
        }
        return "%s %s" % (names.get(self.flavour, self.flavour), self.number)


_VERSION_LINE = re.compile(
    r"^\s*(?:(?P<name>apptainer|singularity[-_ ]?ce|singularity[-_ ]?pro|singularity)\b)?"
    r"(?:\s+version)?\s*[:=]?\s*v?(?P<num>\d+(?:\.\d+){0,2})(?P<rest>\S*)",
    re.I,
)


def parse_version(text: str) -> EngineVersion:
    """Parse ``<engine> --version`` output.

    >>> parse_version("apptainer version 1.4.5").release
    (1, 4, 5)
    >>> parse_version("SingularityPRO version 3.5-2.el7").flavour
    'singularitypro'

    Raises ValueError when no version number is found.
    """
    for line in text.splitlines():
        found = _VERSION_LINE.match(line)
        if not found:
            continue
        name = re.sub(r"[-_ ]", "", (found.group("name") or "singularity").lower())
        numbers = [int(n) for n in found.group("num").split(".")]
        while len(numbers) < 3:
            numbers.append(0)
        return EngineVersion(name, (numbers[0], numbers[1], numbers[2]), text.strip())
    raise ValueError("no version number in %r" % text.strip()[:200])


# Features keyed on version: the lowest release of each flavour that has the feature, None where no
# release has it. SingularityPRO numbers its releases like the Singularity/SingularityCE release it is
# based on (PRO 3.5 ~ Singularity 3.5, PRO 4.1 ~ SingularityCE 4.1). Apptainer 1.0 continued
# Singularity 3.8, so every Singularity 3.x feature is in every Apptainer release.
_ALL = (0, 0, 0)
FEATURES: Dict[str, Tuple[str, Dict[str, Optional[Tuple[int, int, int]]]]] = {
    "multi_stage": (
        "multi-stage builds (several Bootstrap: headers)",
        {"singularity": (3, 2, 0), "singularitypro": (3, 2, 0), "singularityce": _ALL, "apptainer": _ALL},
    ),
    "files_from": (
        "%files from <stage>",
        {"singularity": (3, 2, 0), "singularitypro": (3, 2, 0), "singularityce": _ALL, "apptainer": _ALL},
    ),
    "fakeroot": (
        "build --fakeroot",
        {"singularity": (3, 3, 0), "singularitypro": (3, 3, 0), "singularityce": _ALL, "apptainer": _ALL},
    ),
    # Without an /etc/subuid entry: a root-mapped user namespace plus the fakeroot command.
    "fakeroot_without_subuid": (
        "--fakeroot without an /etc/subuid entry",
        {"singularity": None, "singularitypro": (3, 11, 0), "singularityce": (3, 11, 0), "apptainer": (1, 1, 0)},
    ),
    "build_args": (
        "templating: %arguments, {{ var }} and build --build-arg",
        {"singularity": None, "singularitypro": (4, 0, 0), "singularityce": (4, 0, 0), "apptainer": (1, 2, 0)},
    ),
    "dockerfile_bootstrap": (
        "Bootstrap: dockerfile / buildkit",
        {"singularity": None, "singularitypro": None, "singularityce": None, "apptainer": (1, 5, 0)},
    ),
    # Apptainer <= 1.4 escapes base-image ENV values with $ \ " ` wrongly in 10-docker2singularity.sh.
    "docker_env_escaping": (
        "base-image ENV values with $ \\ \" ` kept intact",
        {"singularity": None, "singularitypro": None, "singularityce": None, "apptainer": (1, 5, 0)},
    ),
    "fakeroot_keeps_owners": (
        "file owners kept by unprivileged --fakeroot SIF builds",
        {"singularity": None, "singularitypro": None, "singularityce": None, "apptainer": (1, 5, 0)},
    ),
    # $APPTAINER_ROOTFS, $APPTAINER_LABELS, $APPTAINER_ENVIRONMENT in %setup/%post (else SINGULARITY_*).
    "apptainer_variables": (
        "APPTAINER_* build variables",
        {"singularity": None, "singularitypro": None, "singularityce": None, "apptainer": _ALL},
    ),
}


def _minimum_text(feature: str) -> str:
    names = {"apptainer": "Apptainer", "singularityce": "SingularityCE", "singularitypro": "SingularityPRO",
             "singularity": "Singularity"}
    parts = []
    for flavour, low in FEATURES[feature][1].items():
        if low is None:
            continue
        parts.append("%s%s" % (names[flavour], "" if low == _ALL else " >= %d.%d" % low[:2]))
    return ", ".join(parts) if parts else "no engine"


def engine_features(version) -> Dict[str, bool]:
    """What an engine release supports: feature name -> bool (see :data:`FEATURES`).

    ``version`` is an :class:`EngineVersion` or the engine's ``--version`` text. The converter can take
    this dict to emit only what the engine supports.
    """
    if isinstance(version, str):
        version = parse_version(version)
    result = {}
    for name, (_, lows) in FEATURES.items():
        low = lows.get(version.flavour)
        result[name] = low is not None and version.release >= low
    return result


@dataclass(frozen=True)
class Engine:
    path: str
    version: EngineVersion


class BuildFailure(Exception):
    """d2s cannot go on: ``message`` (and ``hint``) for the user, ``status`` to exit with."""

    def __init__(self, message: str, status: int = USAGE, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.hint = hint


NO_ENGINE_HINT = (
    "install Apptainer (https://apptainer.org/docs/admin/main/installation.html) or SingularityCE; on an "
    "HPC system it is usually a module: `module load apptainer` (or `module load singularity`). "
    "Or point d2s at the binary with --engine PATH or D2S_ENGINE=PATH."
)


def find_engine(explicit: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Engine:
    """The engine to build with: ``explicit`` (--engine), else ``$D2S_ENGINE``, else the first of
    ``apptainer``, ``singularity`` on PATH. Raises :class:`BuildFailure` (status 127) when there is none."""
    environ = os.environ if environ is None else environ
    search_path = environ.get("PATH", os.defpath)
    wanted = explicit or environ.get("D2S_ENGINE") or ""
    if wanted:
        origin = "--engine" if explicit else "D2S_ENGINE"
        path = shutil.which(wanted, path=search_path) if os.sep not in wanted else wanted
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise BuildFailure("%s %s: no such executable" % (origin, wanted), NOT_FOUND, NO_ENGINE_HINT)
    else:
        path = None
        for name in ENGINE_NAMES:
            path = shutil.which(name, path=search_path)
            if path:
                break
        if not path:
            raise BuildFailure("no Apptainer or Singularity found on PATH", NOT_FOUND, NO_ENGINE_HINT)
    return Engine(os.path.abspath(path), engine_version(path))


def engine_version(path: str) -> EngineVersion:
    try:
        done = subprocess.run(
            [path, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildFailure("cannot run %s --version: %s" % (path, err), NOT_FOUND, NO_ENGINE_HINT)
    text = done.stdout.decode("utf-8", "replace")
    try:
        return parse_version(text)
    except ValueError:
        raise BuildFailure(
            "%s --version said %r (status %d), not a version" % (path, text.strip()[:200], done.returncode),
            NOT_FOUND,
            NO_ENGINE_HINT,
        )


# --------------------------------------------------------------------------------------------------
# Definition files: just enough structure to check requirements and map failures back


@dataclass
class Section:
    name: str  # lowercased, without %
    args: str
    line: int  # 1-based line of the %section header
    body: List[Tuple[int, str]] = field(default_factory=list)  # (line number, text)


@dataclass
class Stage:
    line: int
    header: Dict[str, Tuple[int, str]] = field(default_factory=dict)  # key (lowercased) -> (line, value)
    sections: List[Section] = field(default_factory=list)

    def script(self, name: str) -> List[Tuple[int, str]]:
        """The lines of all sections called ``name``, concatenated as Apptainer runs them."""
        lines: List[Tuple[int, str]] = []
        for section in self.sections:
            if section.name == name:
                lines.extend(section.body)
        return lines


_BOOTSTRAP = re.compile(r"^bootstrap:", re.I)
_TEMPLATE = re.compile(r"{{\s*(\w+)\s*}}")
_COMMENTED_TEMPLATE = re.compile(r"#[^!].*{{")


def parse_definition(text: str) -> List[Stage]:
    """Split a .def into stages, header keys and sections the way Apptainer's parser does (B.1)."""
    stages: List[Stage] = []
    current: Optional[Stage] = None
    section: Optional[Section] = None
    for number, line in enumerate(text.splitlines(), 1):
        if _BOOTSTRAP.match(line):
            current = Stage(number)
            stages.append(current)
            section = None
        words = line.split()
        if words and words[0].startswith("%"):
            if current is None:
                current = Stage(number)
                stages.append(current)
            section = Section(words[0][1:].lower(), line.strip()[len(words[0]):].strip(), number)
            current.sections.append(section)
            continue
        if section is not None:
            section.body.append((number, line))
        elif line.strip() and not line.lstrip().startswith("#") and ":" in line:
            if current is None:
                current = Stage(number)
                stages.append(current)
            key, value = line.split(":", 1)
            current.header[key.strip().lower()] = (number, value.split("#", 1)[0].strip())
    return stages


@dataclass(frozen=True)
class Requirement:
    feature: str
    line: int  # 0: not from the file (a command-line option)
    what: str


def requirements(text: str, fakeroot: bool = False, build_args: Optional[Mapping[str, str]] = None) -> List[Requirement]:
    """The engine features a build of this .def with these options needs."""
    needs: List[Requirement] = []
    stages = parse_definition(text)
    booted = [s for s in stages if "bootstrap" in s.header]
    if len(booted) > 1:
        needs.append(Requirement("multi_stage", booted[1].line, "a second Bootstrap: header (multi-stage build)"))
    for stage in stages:
        for section in stage.sections:
            if section.name == "files" and section.args.split()[:1] == ["from"]:
                needs.append(Requirement("files_from", section.line, "%%files %s" % section.args))
            if section.name == "arguments":
                needs.append(Requirement("build_args", section.line, "an %arguments section"))
        bootstrap = stage.header.get("bootstrap")
        if bootstrap and bootstrap[1] in ("dockerfile", "buildkit"):
            needs.append(Requirement("dockerfile_bootstrap", bootstrap[0], "Bootstrap: %s" % bootstrap[1]))
    for number, line in enumerate(text.splitlines(), 1):
        found = _TEMPLATE.search(line)
        if found and not _COMMENTED_TEMPLATE.search(line[: found.end()]):
            needs.append(Requirement("build_args", number, "the placeholder %s" % found.group(0)))
            break
    if build_args:
        needs.append(Requirement("build_args", 0, "--build-arg"))
    if fakeroot:
        needs.append(Requirement("fakeroot", 0, "--fakeroot"))
    return needs


def unmet(needs: Iterable[Requirement], features: Mapping[str, bool]) -> List[Requirement]:
    seen = set()
    missing = []
    for need in needs:
        if not features.get(need.feature, False) and need.feature not in seen:
            seen.add(need.feature)
            missing.append(need)
    return missing


# --------------------------------------------------------------------------------------------------
# Mapping the engine's output back to the .def and the Dockerfile

_KEYWORDS = ("from|run|cmd|label|maintainer|expose|env|add|copy|entrypoint|volume|user|workdir|arg|onbuild|"
             "stopsignal|healthcheck|shell")
# The converter's "# <Dockerfile name>:<line> <instruction>" comment before each instruction's translation.
_SOURCE_COMMENT = re.compile(r"^\s*#\s*(?P<file>[^\s:#]+):(?P<line>\d+)\s+(?P<text>(?i:%s)\b.*)$" % _KEYWORDS)
_TRACE = re.compile(r"^\++ (?P<cmd>.*)$")
_SCRIPT_LINE = re.compile(r"^/\.(?P<section>post|setup|test)\.script: (?:[^:]*: )?line (?P<line>\d+):")
_STAGED = re.compile(r"/\.d2s/(?P<line>\d+)/")
_OPERATORS = {"&&", "||", ";", "|", "(", ")", "{", "}", "!", "then", "do", "else", "elif", "if", "while", "until"}


def _words(text: str, substituted: bool = False) -> List[str]:
    """Shell-ish words with quotes dropped: good enough to compare a traced command with its source.

    ``substituted``: command substitutions count as expansions (the outer command's view); else their
    words are exposed (the view of the command inside, which the shell echoes first).
    """
    if substituted:
        text = re.sub(r"\$\([^()]*\)|`[^`]*`", "${_}", text)
    text = text.replace("$(", " ").replace("`", " ")
    text = re.sub(r"(&&|\|\||[;|()])", r" \1 ", text)
    return text.replace("'", "").replace('"', "").split()


_EXPANSION = re.compile(r"\$\{[^}]*\}|\$\w+|\$[@*#?$!-]")


def _word_pattern(word: str):
    parts = _EXPANSION.split(word)
    if len(parts) == 1:
        return None
    return re.compile(".*".join(re.escape(p) for p in parts) + r"\Z", re.S)


def _word_matches(traced: str, source: str) -> bool:
    if traced == source:
        return True
    pattern = _word_pattern(source)
    return bool(pattern and pattern.match(traced))


def trace_matches(traced: str, source: str) -> bool:
    """Whether the xtrace line ``traced`` (without its ``+ ``) can come from the script line ``source``.

    The traced command's first word must match a word of the source line in command position (the start,
    or after an operator), and the rest must follow in order; ``$VAR`` in the source matches anything.
    """
    want = _words(traced)
    if not want or source.lstrip().startswith("#"):
        return False
    return any(_subsequence(want, _words(source, substituted)) for substituted in (False, True))


def _subsequence(want: List[str], have: List[str]) -> bool:
    for start, word in enumerate(have):
        if start and have[start - 1] not in _OPERATORS and have[start - 1] != "exec":
            continue
        if not _word_matches(want[0], word):
            continue
        position = start + 1
        for item in want[1:]:
            while position < len(have) and not _word_matches(item, have[position]):
                position += 1
            if position == len(have):
                break
            position += 1
        else:
            return True
    return False


@dataclass
class Step:
    """Where a build was: the .def line, and the Dockerfile instruction it came from if known."""

    section: str
    def_line: int
    def_text: str
    source_file: Optional[str] = None
    source_line: Optional[int] = None
    source_text: str = ""
    index: int = 0  # 1-based position of the instruction among the section's source comments
    count: int = 0

    def describe(self) -> str:
        if self.source_line is not None:
            text = ("%s:%d" % (self.source_file, self.source_line)) + (": " + self.source_text if self.source_text else "")
            return text
        return "%%%s, line %d of the definition: %s" % (self.section, self.def_line, self.def_text.strip())


class Tracer:
    """Follows the engine's output and knows which step of which stage is running.

    Apptainer logs ``Running setup scriptlet`` / ``Running post scriptlet`` for each stage that has the
    section (in file order) and runs them with ``sh -ex``, so each command is echoed with ``+ `` before
    it runs. Each echoed command is matched with the next script line it can come from; the nearest
    ``# Dockerfile:N`` comment above that line names the instruction. ``/.post.script: line N:`` messages
    from the shell give the line exactly.
    """

    def __init__(self, definition: str):
        self.stages = parse_definition(definition)
        self.scripts: Dict[str, List[List[Tuple[int, str]]]] = {}
        for name in ("setup", "post", "test"):
            self.scripts[name] = [s.script(name) for s in self.stages if any(t.strip() for _, t in s.script(name))]
        self.lines = definition.splitlines()
        # Shell functions defined in the scripts: their commands echo when a call runs them.
        self.functions: Dict[str, List[str]] = {}
        self.function_lines = set()
        name = None
        for number, line in enumerate(self.lines, 1):
            opened = re.match(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?\s*$", line)
            if name is None and opened:
                name = opened.group(1)
                self.functions[name] = []
            elif name is not None:
                if re.match(r"^\s*\}\s*;?\s*$", line):
                    name = None
                else:
                    self.functions[name].append(line)
                    self.function_lines.add(number)
        self.calling: Optional[str] = None
        self.section: Optional[str] = None
        self.counters = {"setup": -1, "post": -1, "test": -1}
        self.cursor = 0  # index into the current script
        self.position: Optional[int] = None  # index of the last matched line in the current script
        self.exact: Optional[int] = None  # a line the shell named (index into the current script)

    @property
    def script(self) -> List[Tuple[int, str]]:
        if self.section is None:
            return []
        scripts = self.scripts.get(self.section, [])
        index = self.counters[self.section]
        if not scripts:
            return []
        return scripts[min(max(index, 0), len(scripts) - 1)]

    def feed(self, line: str) -> None:
        text = line.rstrip("\r\n")
        message = re.sub(r"^(INFO|VERBOSE|DEBUG):\s+", "", text)
        if message != text:  # one of the engine's own INFO lines: a new phase
            started = re.match(r"Running (setup|post|test)\s*script", message, re.I)
            self.section = started.group(1).lower() if started else None
            if self.section:
                self.counters[self.section] += 1
            self.cursor = 0
            self.position = None
            self.exact = None
            return
        named = _SCRIPT_LINE.match(text)
        if named and named.group("section") == self.section:
            index = int(named.group("line")) - 1
            if 0 <= index < len(self.script):
                self.exact = index
            return
        traced = _TRACE.match(text)
        if not traced or self.section is None:
            return
        script = self.script
        command = traced.group("cmd")
        if self.calling and any(trace_matches(command, text) for text in self.functions[self.calling]):
            return  # a command inside the function the current line called
        for index in range(self.cursor, len(script)):
            if script[index][0] not in self.function_lines and trace_matches(command, script[index][1]):
                self.position = index
                self.cursor = index  # a loop may echo the same line again
                words = _words(command)
                self.calling = words[0] if words and words[0] in self.functions else None
                return

    def step(self) -> Optional[Step]:
        """The step running now (or that failed), or None before any script ran."""
        script = self.script
        index = self.exact if self.exact is not None else self.position
        if index is None or not script:
            return None
        def_line, def_text = script[index]
        step = Step(self.section or "", def_line, def_text)
        comments = [(i, _SOURCE_COMMENT.match(t)) for i, (_, t) in enumerate(script)]
        comments = [(i, m) for i, m in comments if m]
        step.count = len(comments)
        for position, (i, found) in enumerate(comments, 1):
            if i > index:
                break
            step.source_file = found.group("file")
            step.source_line = int(found.group("line"))
            step.source_text = (found.group("text") or "").strip()
            step.index = position
        if step.source_line is None and self.section == "setup":
            staged = _STAGED.search(def_text)
            if staged:
                step.source_file, step.source_line = "Dockerfile", int(staged.group("line"))
                step.source_text = _instruction_text(self.lines, step.source_line)
        return step


def _instruction_text(definition_lines: Sequence[str], source_line: int) -> str:
    for line in definition_lines:
        found = _SOURCE_COMMENT.match(line)
        if found and int(found.group("line")) == source_line:
            return (found.group("text") or "").strip()
    return ""


# --------------------------------------------------------------------------------------------------
# Known failures


@dataclass
class Context:
    """What the hints may look at besides the output."""

    definition_path: str
    build_dir: str
    output_dir: str
    fakeroot: bool
    engine: Engine
    source_path: Optional[str] = None  # the Dockerfile, when d2s converted one


_REGISTRY_ERRORS = re.compile(
    r"dial tcp|no such host|connection refused|i/o timeout|network is unreachable|TLS handshake timeout|"
    r"server gave HTTP response to HTTPS client|x509:|certificate|context deadline exceeded|"
    r"Temporary failure in name resolution|connection reset by peer|no route to host",
    re.I,
)
_REGISTRY_CONTEXT = re.compile(r"conveyor|checksum|registry|docker://|pinging|/v2/|manifest|oras://|library://", re.I)


def newgrp_hint(group: Tuple[str, str], fakeroot: bool) -> str:
    name, path = group
    return (
        "%s belongs to the group %s, which you are in only as a supplementary group; %s keeps only your "
        "primary group, so the build cannot write there (and what it writes would count against your "
        "primary group's quota). Run `newgrp %s` (or `sg %s -c 'd2s build ...'`) and build again."
        % (path, name, "--fakeroot" if fakeroot else "the build's user namespace", name, name)
    )


def known_failures(output: Sequence[str], ctx: Context, tracer: Optional[Tracer] = None,
                   group_check: Optional[Callable[[Sequence[str]], Optional[Tuple[str, str]]]] = None) -> List[str]:
    """Hints for a failed build, from its output (lines, in order)."""
    hints: List[str] = []
    text = "\n".join(output)
    fatal = [line for line in output if re.match(r"^(FATAL|ERROR)\s*:", line)]
    flags = "apptainer" if ctx.engine.version.flavour == "apptainer" else "singularity"

    subuid = re.search(r"no mapping entry found in /etc/sub([ug])id(?: for (\S+))?", text)
    if subuid or re.search(r"could not use fakeroot|fakeroot.*(not allowed|not permitted)", text, re.I):
        who = subuid.group(2) if subuid and subuid.group(2) else "$USER"
        hint = (
            "--fakeroot is not set up for you: there is no entry for %s in /etc/subuid and /etc/subgid. "
            "Ask the administrators to add one (`%s config fakeroot --add %s`, as root)" % (who, flags, who)
        )
        if engine_features(ctx.engine.version)["fakeroot_without_subuid"]:
            hint += ", or install the `fakeroot` package so %s can fall back to a root-mapped namespace" % (
                ctx.engine.version.describe())
        else:
            hint += "; %s has no fallback (Apptainer >= 1.1 and SingularityCE >= 3.11 do)" % ctx.engine.version.describe()
        hints.append(hint + ". Or build on a machine where you are root, without --fakeroot.")

    denied = re.search(r"permission denied|disk quota exceeded|operation not permitted", text, re.I)
    if denied:
        group = (group_check or group_restricted)([ctx.build_dir, ctx.output_dir])
        if group:
            hints.append(newgrp_hint(group, ctx.fakeroot))

    registry_lines = [line for line in fatal if _REGISTRY_ERRORS.search(line) and _REGISTRY_CONTEXT.search(line)
                      and "%post" not in line]
    if registry_lines:
        host = re.search(r'Get "https?://([^/"]+)/', registry_lines[-1])
        where = "the registry %s" % host.group(1) if host else "the image registry"
        hint = (
            "%s could not be reached to pull the base image (From: in %s). Check the network and the "
            "image reference; behind a proxy set HTTPS_PROXY/HTTP_PROXY; compute nodes often have no "
            "internet access, so build on a login node" % (where, os.path.basename(ctx.definition_path))
        )
        if re.search(r"HTTP response to HTTPS client", registry_lines[-1]):
            hint += "; for a plain-http registry pass `-- %s` to d2s build" % (
                "--no-https" if flags == "apptainer" else "--nohttps")
        hints.append(hint + ".")
    elif re.search(r"manifest unknown|not found: manifest|name unknown", "\n".join(fatal), re.I):
        hints.append("the base image or its tag does not exist in the registry: check From: in %s."
                     % os.path.basename(ctx.definition_path))
    elif re.search(r"unauthorized|authentication required|denied: requested access", "\n".join(fatal), re.I):
        hints.append("the registry wants a login: `%s registry login docker://REGISTRY` (or pass "
                     "`-- --docker-login`)." % flags)

    section_failure = re.search(
        r"(?:while running %(post) section|failed to execute %(post) proc|failed to run %(setup) script|"
        r"failed to execute %(test) script|%(post) proc)", text)
    if section_failure:
        section = next(g for g in section_failure.groups() if g)
        status = re.search(r"exit status (\d+)", section_failure.string[section_failure.end():].split("\n", 1)[0])
        step = tracer.step() if tracer else None
        if step is not None and step.source_line is not None and ctx.source_path:
            step.source_file = _show(ctx.source_path)
        if step is not None and step.section == section:
            code = " (exit status %s)" % status.group(1) if status else ""
            if step.source_line is not None:
                hint = "the build failed in the %%%s step for %s%s\n%s:%d: %s" % (
                    section, step.describe(), code, _show(ctx.definition_path), step.def_line, step.def_text.strip())
            else:
                hint = "the build failed in %s%s" % (step.describe(), code)
            hints.append(hint)
        else:
            hints.append("the %%%s section of %s failed; the lines above show the last command." % (
                section, os.path.basename(ctx.definition_path)))

    if section_failure and section_failure.group(3):  # %setup runs on the build host, not in the image
        missing_tool = re.findall(r"(?m)^\S*:? ?(?:\d+: |line \d+: )?([\w.+-]+): (?:command )?not found$", text)
        if missing_tool:
            hints.append("%%setup runs on the build host, outside the image: `%s` must be installed on this "
                         "machine (or load its module) for this step." % missing_tool[-1])

    copied = re.search(r"while copying \[([^\]]*)\]", text)
    if copied and re.search(r"cannot stat|no source files found|No such file", text):
        hints.append("a %%files source (%s) is missing: %%files reads paths relative to the build folder %s."
                     % (copied.group(1), ctx.build_dir))
    undefined = re.search(r"build var (\S+) is not defined", text)
    if undefined:
        hints.append("the definition uses {{ %s }}: pass --build-arg %s=VALUE or give it a default in %%arguments."
                     % (undefined.group(1), undefined.group(1)))
    unused = re.search(r"unused build args: ([^.]+)", text)
    if unused:
        hints.append("the definition does not use the build arg(s) %s: drop them, or pass "
                     "`-- --warn-unused-build-args`." % unused.group(1).strip())
    return hints


def group_restricted(paths: Sequence[str], uid: Optional[int] = None, gid: Optional[int] = None,
                     groups: Optional[Sequence[int]] = None, stat=os.stat) -> Optional[Tuple[str, str]]:
    """(group name, path) when a path is usable only through a supplementary group, else None.

    That is: owned by someone else, its group is one of the user's supplementary groups (not the primary
    one), and others may not write it. A user namespace (--fakeroot) keeps only the primary group.
    """
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    groups = os.getgroups() if groups is None else groups
    if uid == 0:
        return None
    for path in paths:
        try:
            info = stat(path)
        except OSError:
            continue
        if info.st_uid == uid or info.st_gid == gid or info.st_gid not in groups:
            continue
        if info.st_mode & 0o002:
            continue
        try:
            import grp

            name = grp.getgrgid(info.st_gid).gr_name
        except (ImportError, KeyError):
            name = str(info.st_gid)
        return name, path
    return None


# --------------------------------------------------------------------------------------------------
# Showing the engine's output

_LOG_LINE = re.compile(r"^(INFO|WARNING|ERROR|FATAL|VERBOSE|DEBUG)\s*:")


class PlainDisplay:
    """Every line as it comes: the engine's stdout to stdout, its stderr to stderr."""

    def __init__(self, stdout=None, stderr=None):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def line(self, stream: str, text: str) -> None:
        target = self.stdout if stream == "stdout" else self.stderr
        target.write(text + "\n")
        target.flush()

    def tick(self) -> None:
        pass

    def close(self, ok: bool, tail: Sequence[str]) -> None:
        pass


class TerminalDisplay:
    """A compact display for a terminal: the engine's log lines stay, the scripts' output scrolls through
    one status line (spinner, elapsed time, current Dockerfile step, last output line). On failure the last
    lines of output are printed in full."""

    SPINNER = "|/-\\"

    def __init__(self, tracer: Optional[Tracer], stream=None, tail_lines: int = 40):
        self.stream = stream or sys.stderr
        self.tracer = tracer
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.phase = "starting"
        self.last = ""
        self.frame = 0
        self.tail_lines = tail_lines
        self.shown = False

    def _width(self) -> int:
        return max(20, shutil.get_terminal_size((100, 24)).columns - 1)

    def _clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.shown = False

    def line(self, stream: str, text: str) -> None:
        if _LOG_LINE.match(text):
            self._clear()
            self.stream.write(text + "\n")
            if text.startswith("INFO"):
                self.phase = re.sub(r"^INFO:\s*", "", text).rstrip(". ")
        elif text.strip():
            self.last = text.strip()
        self._draw(force=True)

    def tick(self) -> None:
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        self.frame += 1
        elapsed = int(now - self.started)
        parts = ["%s %d:%02d %s" % (self.SPINNER[self.frame % 4], elapsed // 60, elapsed % 60, self.phase)]
        step = self.tracer.step() if self.tracer else None
        if step is not None and step.source_line is not None:
            count = " %d/%d" % (step.index, step.count) if step.count else ""
            parts.append("step%s %s" % (count, step.describe()))
        if self.last:
            parts.append(self.last)
        status = " | ".join(parts).replace("\t", " ")
        self.stream.write("\r\x1b[2K" + status[: self._width()])
        self.stream.flush()
        self.shown = True

    def close(self, ok: bool, tail: Sequence[str]) -> None:
        self._clear()
        if not ok:
            lines = [t for t in tail if not _LOG_LINE.match(t)][-self.tail_lines:]
            if lines:
                self.stream.write("--- last %d lines of the build output ---\n" % len(lines))
                for text in lines:
                    self.stream.write(text + "\n")
                self.stream.write("---\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------------
# Running the engine


class Interrupted(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def temporary_target(target: str, sandbox: bool) -> str:
    folder = os.path.dirname(target)
    while True:
        name = os.path.join(folder, "%s%s%s" % (TMP_PREFIX, uuid.uuid4().hex[:12], "" if sandbox else ".sif"))
        if not os.path.lexists(name):
            return name


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the engine and everything it started (its own process group): SIGINT, SIGTERM, SIGKILL."""
    for signum, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no straggler of its group is left.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return


def run_engine(command: Sequence[str], cwd: str, display, tracer: Optional[Tracer] = None,
               keep: int = 400, grace: float = 10.0) -> Tuple[int, List[str]]:
    """Run ``command`` in ``cwd`` in its own process group, streaming its output to ``display``.

    Returns (status, the last ``keep`` lines of output in arrival order). A signal that stops d2s
    (SIGINT, SIGTERM, SIGHUP) stops the engine's whole process group and raises :class:`Interrupted`.
    """
    import selectors

    tail: deque = deque(maxlen=keep)
    previous = {}

    def interrupt(signum, frame):
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, interrupt)
        except (ValueError, OSError):  # not the main thread
            pass
    process = None
    try:
        process = subprocess.Popen(
            list(command), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        selector = selectors.DefaultSelector()
        partial = {}
        for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr)):
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe, selectors.EVENT_READ, name)
            partial[name] = b""

        def emit(name: str, raw: bytes) -> None:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            tail.append(text)
            if tracer is not None:
                tracer.feed(text)
            display.line(name, text)

        while selector.get_map():
            for key, _ in selector.select(timeout=0.1):
                name = key.data
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fileobj)
                    if partial[name]:
                        emit(name, partial[name])
                        partial[name] = b""
                    continue
                data = partial[name] + chunk
                *lines, partial[name] = data.split(b"\n")
                for raw in lines:
                    emit(name, raw)
            display.tick()
        selector.close()
        status = process.wait()
        if status < 0:
            status = 128 - status
        return status, list(tail)
    except BaseException:
        if process is not None and process.poll() is None:
            leader = process.pid

            def hurry(signum, frame):  # asked twice: no more grace
                try:
                    os.killpg(leader, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

            for signum in previous:
                signal.signal(signum, hurry)
            _stop(process, grace)
        raise
    finally:
        if process is not None:
            for pipe in (process.stdout, process.stderr):
                if pipe:
                    pipe.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --------------------------------------------------------------------------------------------------
# The command


def _is_definition(path: str) -> bool:
    if path.endswith(".def"):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536).decode("utf-8", "replace")
    except OSError:
        return False
    for line in head.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return bool(_BOOTSTRAP.match(stripped))
    return False


def _stem(path: str) -> str:
    """The name of the .def and image d2s makes from a Dockerfile: its folder's name for ``Dockerfile``,
    else the file name without a Dockerfile prefix or suffix (``Dockerfile.gpu``, ``gpu.Dockerfile``)."""
    name = os.path.basename(path)
    folder = os.path.basename(os.path.dirname(os.path.abspath(path))) or "image"
    if name.endswith(".def"):
        return name[: -len(".def")] or folder
    lowered = name.lower()
    if lowered == "dockerfile":
        return folder
    for affix in ("dockerfile.", ".dockerfile", "dockerfile-", "-dockerfile"):
        if lowered.startswith(affix) and affix.endswith((".", "-")):
            return name[len(affix):] or folder
        if lowered.endswith(affix) and affix.startswith((".", "-")):
            return name[: -len(affix)] or folder
    return name


def _say(message: str) -> None:
    first, *rest = message.split("\n")
    sys.stderr.write("d2s: %s\n" % first)
    for line in rest:
        sys.stderr.write("d2s:     %s\n" % line)
    sys.stderr.flush()


def _use_terminal() -> bool:
    choice = os.environ.get("D2S_PROGRESS", "auto").lower()
    if choice in ("plain", "0", "no", "off"):
        return False
    if choice in ("tty", "1", "yes", "on"):
        return True
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def build_command(
    input: Optional[str],
    output: Optional[str],
    fakeroot: bool,
    sandbox: bool,
    build_args: Mapping[str, str],
    target: Optional[str],
    force: bool,
    engine: Optional[str],
    offline: bool,
    extra: Sequence[str],
) -> int:
    """``d2s build``; returns the exit status (see the module docstring)."""
    try:
        return _build(input, output, fakeroot, sandbox, dict(build_args or {}), target, force, engine, offline,
                      list(extra or []))
    except BuildFailure as failure:
        _say("error: " + failure.message)
        if failure.hint:
            _say("hint: " + failure.hint)
        return failure.status
    except D2SError as err:
        sys.stderr.write(str(err) + "\n")
        return USAGE


def _show(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _build(input, output, fakeroot, sandbox, build_args, stage, force, engine_name, offline, extra) -> int:
    # 1. What to build, from where, into what; refuse early, before converting or building anything.
    source = input or "Dockerfile"
    if os.path.isdir(source):
        source = os.path.join(source, "Dockerfile")
    if not os.path.isfile(source):
        if os.path.basename(source) == "Dockerfile" and not os.path.lexists(source):
            folder = os.path.abspath(os.path.dirname(source) or ".")
            raise BuildFailure("no Dockerfile in %s (give a Dockerfile or a .def)" % folder)
        raise BuildFailure("no such file: %s" % source)
    is_def = _is_definition(source)
    if is_def and stage:
        raise BuildFailure("--target picks a Dockerfile stage; %s is a definition file" % source)
    build_dir = os.path.dirname(os.path.abspath(source))
    stem = _stem(source)
    target = os.path.abspath(output) if output else os.path.abspath(stem if sandbox else stem + ".sif")
    output_dir = os.path.dirname(target)
    if not os.path.isdir(output_dir):
        raise BuildFailure("the folder for %s does not exist" % (output or target))
    if os.path.lexists(target):
        if not force:
            raise BuildFailure("refusing to replace %s (use --force)" % _show(target))
        if sandbox and not (os.path.isdir(target) and not os.path.islink(target)):
            raise BuildFailure("%s is not a folder; a sandbox build replaces only a sandbox" % _show(target))
        if not sandbox and os.path.isdir(target) and not os.path.islink(target):
            raise BuildFailure("%s is a folder (a sandbox?): remove it, or build with --sandbox" % _show(target))
    if not os.access(output_dir, os.W_OK):
        raise BuildFailure("cannot write to %s" % output_dir)
    definition_path = os.path.abspath(source) if is_def else os.path.join(build_dir, stem + ".def")
    if os.path.abspath(definition_path) == target:
        raise BuildFailure("the image would replace its own definition file %s" % _show(target))
    if not is_def and not force:
        from .output import may_overwrite

        reason = may_overwrite(definition_path)
        if reason:
            raise BuildFailure("refusing to overwrite %s: %s" % (_show(definition_path), reason))

    # 2. The engine (looked up before converting, but a missing one only stops us after the .def is
    # written: it can then be built elsewhere).
    try:
        engine = find_engine(engine_name)
        missing: Optional[BuildFailure] = None
    except BuildFailure as failure:
        engine, missing = None, failure

    # 3. The definition file.
    if is_def:
        with open(definition_path, "rb") as handle:
            raw = handle.read()
        try:
            definition = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BuildFailure("%s is not UTF-8 text" % source)
        engine_args = build_args
    else:
        definition = _convert(source, build_dir, definition_path, build_args, stage, offline,
                              own_outputs=[definition_path, target])
        engine_args = {}
    if missing is not None:
        raise missing
    assert engine is not None
    _say("engine: %s (%s)" % (engine.path, engine.version.describe()))

    # 4. Does the engine have what the .def needs?
    features = engine_features(engine.version)
    lacking = unmet(requirements(definition, fakeroot, engine_args), features)
    if lacking:
        for need in lacking:
            where = "%s:%d: " % (_show(definition_path), need.line) if need.line else ""
            _say("error: %sneeds %s (%s), which %s lacks; it needs %s" % (
                where, FEATURES[need.feature][0], need.what, engine.version.describe(), _minimum_text(need.feature)))
        raise BuildFailure("not building: %s cannot build this definition" % engine.version.describe(),
                           USAGE, "use a newer engine (--engine PATH or D2S_ENGINE), or change the Dockerfile")

    # 5. Build into a temporary name beside the target; rename it into place only on success.
    temporary = temporary_target(target, sandbox)
    command = [engine.path, "build"]
    if fakeroot:
        command.append("--fakeroot")
    if sandbox:
        command.append("--sandbox")
    for key, value in engine_args.items():
        command += ["--build-arg", "%s=%s" % (key, value)]
    command += list(extra)
    command += [temporary, os.path.abspath(definition_path)]
    _say("building %s from %s in %s" % (_show(target), _show(definition_path), _show(build_dir) or "."))
    restricted = group_restricted([build_dir, output_dir]) if fakeroot else None
    if restricted:
        _say("warning: " + newgrp_hint(restricted, fakeroot))
    tracer = Tracer(definition)
    display = TerminalDisplay(tracer) if _use_terminal() else PlainDisplay()
    ctx = Context(definition_path, build_dir, output_dir, fakeroot, engine,
                  _generated_from(definition, build_dir) if is_def else source)
    status, tail = 1, []
    try:
        status, tail = run_engine(command, build_dir, display, tracer)
    except Interrupted as stop:
        display.close(True, [])
        _remove(temporary)
        _say("interrupted; stopped the build, nothing written to %s" % _show(target))
        return 128 + stop.signum
    except KeyboardInterrupt:
        display.close(True, [])
        _remove(temporary)
        _say("interrupted; stopped the build, nothing written to %s" % _show(target))
        return 130
    except OSError as err:
        _remove(temporary)
        raise BuildFailure("cannot run %s: %s" % (engine.path, err), NOT_FOUND)
    built = os.path.lexists(temporary)
    display.close(status == 0 and built, tail)
    if status != 0 or not built:
        _remove(temporary)
        for hint in known_failures(tail, ctx, tracer):
            _say("hint: " + hint)
        if status == 0:
            _say("error: %s exited 0 but wrote no image" % engine.path)
            return 1
        kept = " (the previous %s is unchanged)" % _show(target) if os.path.lexists(target) else ""
        _say("build failed with exit status %d; nothing written%s" % (status, kept))
        return status
    _replace(temporary, target, sandbox)
    _say("wrote %s" % _show(target))
    return 0


_WHOLE_CONTEXT = re.compile(r"^\s*(?:COPY|ADD)\s+(?:--(?!from)\S+\s+)*(?:\.|\./|\*|\[\s*\"\.\/?\")[\s,]", re.I)


def images_in_context(dockerfile_text: str, folder: str,
                      own: Sequence[str] = ()) -> Tuple[Optional[int], List[str]]:
    """(line of a COPY/ADD of the whole build folder, images in that folder it would copy into the image).

    A build in the project folder would otherwise put other images there inside the new one. Images the
    folder's .dockerignore excludes are left out, and so are ``own`` (the outputs of this build, which the
    converter leaves out of context copies)."""
    line = None
    for number, text in enumerate(dockerfile_text.splitlines(), 1):
        if _WHOLE_CONTEXT.match(text):
            line = number
            break
    if line is None:
        return None, []
    try:
        mine = {os.path.abspath(p) for p in own}
        names = sorted(n for n in os.listdir(folder) if (n.endswith(".sif") or n.startswith(TMP_PREFIX))
                       and os.path.abspath(os.path.join(folder, n)) not in mine)
    except OSError:
        return line, []
    ignored: List[str] = []
    try:
        with open(os.path.join(folder, ".dockerignore"), encoding="utf-8", errors="replace") as handle:
            ignored = [p.strip().lstrip("/") for p in handle if p.strip() and not p.lstrip().startswith(("#", "!"))]
    except OSError:
        pass
    import fnmatch

    return line, [n for n in names if not any(fnmatch.fnmatch(n, p) for p in ignored)]


def _generated_from(definition: str, folder: str) -> Optional[str]:
    """The Dockerfile a d2s-generated .def names in its header, when it is still beside the .def."""
    found = re.match(r"# Generated by d2s from (.+?); ", definition)
    if found:
        path = os.path.join(folder, found.group(1))
        if os.path.isfile(path):
            return path
    return None


def _replace(temporary: str, target: str, sandbox: bool) -> None:
    if not sandbox or not os.path.lexists(target):
        os.replace(temporary, target)
        return
    # A folder cannot be replaced in one rename: move the old one aside first, then remove it.
    old = temporary_target(target, True)
    os.rename(target, old)
    os.rename(temporary, target)
    try:
        _remove(old)
    except OSError as err:
        _say("warning: could not remove the previous sandbox, now at %s: %s" % (old, err))


def _convert(source: str, build_dir: str, definition_path: str, build_args: Dict[str, str],
             stage: Optional[str], offline: bool, own_outputs: Optional[List[str]] = None) -> str:
    from .conversion import convert, decode_source
    from .output import stamp, write_atomic

    with open(source, "rb") as handle:
        text = decode_source(handle.read(), source)
    line, images = images_in_context(text, build_dir, own_outputs or ())
    if images:
        _say("warning: %s:%d copies the whole build folder, and it holds %s: the image would contain %s. "
             "Write images elsewhere (-o DIR/NAME.sif) or list them in .dockerignore."
             % (source, line, ", ".join(images), "it" if len(images) == 1 else "them"))
    result = convert(text, context=build_dir, build_args=build_args, target=stage, path=source,
                     lookup_base=not offline, own_outputs=own_outputs)
    for diagnostic in result.diagnostics:
        sys.stderr.write(diagnostic.format(source) + "\n")
    definition = stamp(os.path.basename(source), result.definition)
    write_atomic(definition_path, definition)
    _say("wrote %s" % _show(definition_path))
    return definition
