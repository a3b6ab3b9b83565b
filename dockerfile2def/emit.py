"""Write the definition file from the resolved IR: deterministic, readable, and safe to parse.

Each stage becomes an Apptainer stage. Inside ``%post``, every instruction's translation follows a
``# Dockerfile:LINE`` comment, in Dockerfile order, so COPY and RUN interleave as in Docker: COPY
sources are staged under ``/.d2s`` (by ``%setup`` from the context, by ``%files from`` from other
stages) and put in place at the COPY's turn. Every value is quoted by shell.quote.
"""

import json
import os
from typing import Dict, List, Optional, Tuple

from .conversion import Context
from .errors import one_line
from .ir import (
    Arg,
    Cmd,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    ExecForm,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from .shell import NEWLINE_DEFINITION, NEWLINE_WORD, quote, words
from .passes.plan_copies import copy_lines, mount_lines
from .passes.resolve_shell import DEFAULT_SHELL
from .passes.scope import base_config, config_env, deferred_pieces, has_deferred, is_shell_name

INDENT = "    "
STAGING = "/.d2s"
ROOTFS = '"${APPTAINER_ROOTFS:-$SINGULARITY_ROOTFS}"'
DOCKER_ENV = "/.singularity.d/env/10-docker2singularity.sh"
BASE_COMMAND = "/.singularity.d/d2s-base-command.sh"

TMP_UNBIND = r"""for d2s_tmp in /tmp /var/tmp; do
    while read -r _ _ _ _ d2s_point _; do
        if [ "$d2s_point" = "$d2s_tmp" ]; then
            umount "$d2s_tmp" || echo "d2s: cannot unmount the host's $d2s_tmp: what the build puts there stays out of the image" >&2
            break
        fi
    done < /proc/self/mountinfo
done"""

# The fixed lines of %post's prologue (StageWriter.prologue), each block one item of its lines.
POST_START = "\n".join([
    "# Docker runs every RUN with umask 022 and the image's ENV; Apptainer's %post has umask 002.",
    "umask 022",
    "# Apptainer binds the host's /tmp and /var/tmp here; Docker's RUN and COPY use the image's own.",
    TMP_UNBIND,
])
SOURCE_DOCKER_ENV = "\n".join([
    "# The base image's Docker ENV (PATH and the rest), as docker build sees it.",
    "if [ -f %s ] && sh -n %s 2>/dev/null; then . %s; fi" % (DOCKER_ENV, DOCKER_ENV, DOCKER_ENV),
])
SAVE_BASE_COMMAND = "\n".join([
    "# The base image's ENTRYPOINT and CMD, which d2s could not read from its registry.",
    "grep -E '^OCI_(ENTRYPOINT|CMD)=' /.singularity.d/runscript > %s 2>/dev/null || : > %s"
    % (BASE_COMMAND, BASE_COMMAND),
])

# Shell helpers at the top of %post; their names say what they do, so the body reads like the Dockerfile.
COPY_HELPER = r"""# d2s_copy STAGED DEST NAME [OWNER]: put one staged COPY source in place with Docker's rules:
# a directory's contents merge into DEST (made, and given to OWNER, if new); a file becomes DEST,
# or DEST/NAME when DEST is a folder.
d2s_copy() {
    if [ -d "$1" ] && [ ! -L "$1" ]; then
        if [ ! -d "$2" ]; then
            mkdir -p "$2"
            if [ -n "$4" ]; then chown "$4" "$2"; fi
        fi
        for d2s_entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
            if [ -e "$d2s_entry" ] || [ -L "$d2s_entry" ]; then cp -a "$d2s_entry" "$2/"; fi
        done
    else
        case "$2" in
            */) mkdir -p "$2" && cp -a "$1" "$2$3" ;;
            *) if [ -d "$2" ]; then cp -a "$1" "$2/$3"; else mkdir -p "$(dirname "$2")" && cp -a "$1" "$2"; fi ;;
        esac
    fi
}"""


AS_USER_HELPER = r"""# d2s_as USER COMMAND: run the shell string COMMAND as USER, as Docker runs a RUN after USER.
# (su needs the user in the image's /etc/passwd; without it, the RUN runs as root, with a warning.)
d2s_as() {
    if command -v su >/dev/null 2>&1 && id -u "${1%%:*}" >/dev/null 2>&1; then
        su -s /bin/sh -c "$2" "${1%%:*}"
    else
        echo "d2s: cannot switch to user $1 here; running as root" >&2
        /bin/sh -c "$2"
    fi
}"""


MOUNT_HELPER = r"""# d2s_mount STAGED TARGET / d2s_unmount TARGET: what RUN --mount shows at TARGET during one RUN:
# the staged files (bind) or an empty folder (cache, tmpfs); then TARGET's own content comes back
# (or the empty mount point Docker leaves).
d2s_mount() {
    if [ -e "$2" ] || [ -L "$2" ]; then mv "$2" "$2.d2s-hidden"; fi
    mkdir -p "$(dirname "$2")"
    if [ -n "$1" ]; then cp -a "$1" "$2"; else mkdir -p "$2"; fi
}
d2s_unmount() {
    rm -rf "$1"
    if [ -e "$1.d2s-hidden" ] || [ -L "$1.d2s-hidden" ]; then mv "$1.d2s-hidden" "$1"; else mkdir -p "$1"; fi
}"""


LABEL_HELPER = r"""# d2s_label KEY VALUE: set a label exactly (both JSON-encoded by d2s) in the image's labels.json,
# which Apptainer reads after %post. (%labels and $APPTAINER_LABELS lines are one line, split at the
# first space and trimmed, and cannot override an inherited label.)
d2s_label() {
    d2s_json=/.singularity.d/labels.json
    d2s_old=''
    if [ -s "$d2s_json" ]; then d2s_old="$(cat "$d2s_json")"; d2s_old="${d2s_old%\}*}"; fi
    case "$d2s_old" in *[![:space:]{]*) d2s_old="$d2s_old," ;; *) d2s_old='{' ;; esac
    printf '%s\n\t%s: %s\n}\n' "$d2s_old" "$1" "$2" > "$d2s_json"
}"""
JSON_TEXT_HELPER = r"""# d2s_json_text VALUE: VALUE as the inside of a JSON string (for a label that uses a variable
# only the base image sets, known here in %post).
d2s_json_text() {
    printf '%s' "$1" | sed -e 's/[\\"]/\\&/g' -e "s/$(printf '\t')/\\\\t/g" -e "s/$(printf '\r')/\\\\r/g" |
        sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g'
}"""
# A %labels line is KEY, a space and the value, read verbatim: only simple keys and one-line values.
# A plain key is [A-Za-z0-9_][A-Za-z0-9_.:/@+-]*; the check maps each of these characters to "a" and
# every other byte to " " (as shell.quote does: cheaper than a regex's call).
_LABEL_KEY_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/@+-"
_LABEL_KEY_TABLE = bytes(ord("a") if byte in _LABEL_KEY_CHARS else ord(" ") for byte in range(256))


def stage_names(dockerfile: Dockerfile) -> Dict[int, str]:
    """Apptainer stage names: the Dockerfile's (lowercased) or ``stage-N``, never colliding."""
    # Each name read from the stage's FROM once (Stage.name is a property: a call a read). A None
    # among the names taken changes nothing: no candidate is None.
    given = [stage.base.stage_name for stage in dockerfile.stages]
    taken = set(given)
    names = {}
    for stage, name in zip(dockerfile.stages, given):
        if not name:
            name = "stage-%d" % stage.index
            while name in taken:
                name += "-d2s"
            taken.add(name)
        names[stage.index] = name
    return names


def emit(dockerfile: Dockerfile, ctx: Context) -> str:
    multi = len(dockerfile.stages) > 1 or bool(dockerfile.image_stages)
    names = stage_names(dockerfile) if multi else {}  # (only a "Stage:" line names a stage)
    chunks = [
        "# Build it from the build context folder (%setup and %files read paths relative to it):\n"
        "#   apptainer build --fakeroot image.sif recipe.def    (or: d2s build --fakeroot)\n"
    ]
    for image, name in dockerfile.image_stages:
        chunks.append("Bootstrap: docker\nFrom: %s\nStage: %s\n" % (image, name))
    final = dockerfile.stages[-1]
    comment_start = "# %s:" % _base_name(ctx.path)  # the comment above every instruction
    for stage in dockerfile.stages:
        # (positional: keywords cost the call about a fifth more; the parameters say what they are)
        chunks += StageWriter(dockerfile, stage, names, ctx, stage is final, multi, comment_start).render()
    return "\n".join(chunks)


class StageWriter:
    # (slots: a writer per stage, so its construction counts; a slot store costs less than a dict's)
    __slots__ = ("dockerfile", "stage", "names", "ctx", "final", "multi", "setup", "files_from", "config",
                 "base_env", "env_set", "env_exports", "comment_start", "_workdir", "_cd", "_shell",
                 "_shell_words", "copies", "as_user", "mounts")

    def __init__(self, dockerfile: Dockerfile, stage: Stage, names: Dict[int, str], ctx: Context,
                 final: bool, multi: bool, comment_start: str):
        self.dockerfile = dockerfile
        self.stage = stage
        self.names = names
        self.ctx = ctx
        self.final = final
        self.multi = multi
        self.setup: List[str] = []
        self.files_from: Dict[str, List[str]] = {}
        self.config = base_config(stage.base.image, ctx)  # the base image's, looked up once per stage
        if self.config:
            base_env = config_env(self.config)
            self.base_env = list(base_env.items())
            self.env_set = set(base_env)  # ENV names set so far, as we translate
        else:  # (an unknown base, or scratch: no base ENV)
            self.base_env, self.env_set = [], set()
        # name -> (value, its export line) of the stage's last ENV of each name: %environment
        # mostly repeats them, so the final stage's values are not quoted twice.
        self.env_exports: Dict[str, tuple] = {}
        self.comment_start = comment_start
        # The last RUN's working directory and SHELL, quoted: most RUNs of a stage share them.
        self._workdir, self._cd = "/", "cd /"
        self._shell, self._shell_words = DEFAULT_SHELL, _DEFAULT_SHELL_WORDS
        # The helpers %post needs, noted by the instructions that use them.
        self.copies = self.as_user = self.mounts = False

    # -- header ---------------------------------------------------------------------------------
    def header(self) -> str:
        image = self.stage.base.image
        text = "Bootstrap: scratch" if image == "scratch" else "Bootstrap: docker\nFrom: " + image
        if self.multi:
            text += "\nStage: " + self.names[self.stage.index]
        return text

    # -- %post ----------------------------------------------------------------------------------
    def prologue(self) -> str:
        """%post's first lines, indented (the fixed blocks were indented at import); after render's
        translations, which note the helpers the stage uses."""
        runtime = self.stage.runtime
        pieces = [_PRE_INDENTED[POST_START]]
        if self.stage.base.image != "scratch":
            pieces.append(_PRE_INDENTED[SOURCE_DOCKER_ENV])
        if runtime is not None and runtime.base_known:
            base_env = self.base_env
            if base_env:
                pieces.append(_body(["# The base image's ENV, exactly (Apptainer <= 1.4 mangles values with $, \\, \", `)."]
                                    + ["export %s=%s" % (k, quote(v)) for k, v in base_env if is_shell_name(k)]))
        elif self.final and self.stage.base.image != "scratch" and runtime.entrypoint is None:
            pieces.append(_PRE_INDENTED[SAVE_BASE_COMMAND])
        if self.copies:
            pieces.append(_PRE_INDENTED[COPY_HELPER])
        if self.as_user:
            pieces.append(_PRE_INDENTED[AS_USER_HELPER])
        if self.mounts:
            pieces.append(_PRE_INDENTED[MOUNT_HELPER])
        return "".join(pieces)

    def render(self) -> List[str]:
        """The stage's text, in parts to join with newlines (emit joins every stage's at once)."""
        runtime = self.stage.runtime
        body = []  # %post after the prologue: each instruction's comment and translation in turn
        comment_start, handlers, untranslated = self.comment_start, _HANDLERS, StageWriter.untranslated
        for instruction in self.stage.instructions:
            # The comment: the instruction's first line, cut to 100 characters.
            first = instruction.original
            if "\n" in first:
                first = first[:first.index("\n")]
            if len(first) > 100:
                first = first[:97] + "..."
            body.append(f"{comment_start}{instruction.span.line} {first}")
            method = handlers.get(type(instruction), untranslated)
            if method is not None:  # (None: no %post lines)
                method(self, instruction, body)
        if self.final:  # (every stage has its runtime once the passes ran)
            workdir = runtime.workdir
            if workdir and workdir != "/":
                body += ["# The runtime working directory must exist (Docker creates it).", "mkdir -p %s" % quote(workdir)]
            plain_labels, post_labels = self.labels() if runtime.labels else ((), ())
            if post_labels:
                body += ["# Labels %labels cannot set (inherited keys, or text Apptainer would misread).",
                         LABEL_HELPER] + post_labels
        body.append(_REMOVE_STAGING)
        parts = [self.header(), ""]
        if self.setup:
            # %setup runs with the build's umask 002; Docker's folders are 755.
            parts += _section("setup", ["umask 022", 'R=%s' % ROOTFS] + self.setup)
        if self.files_from:
            for stage_name, lines in self.files_from.items():
                parts += _section("files from %s" % stage_name, lines)
        body_text = _body(body)
        post = self.prologue() + body_text
        # The prologue's fixed blocks never use d2s_nl: only the base image's ENV there may.
        parts += _headed("%post", _newline_defined(post, post if self.base_env else body_text))
        if self.final:
            parts += self.runtime_sections(plain_labels)
        return parts

    # The handlers: each appends the instruction's %post lines to ``out`` (no list of its own).
    def untranslated(self, instruction: Instruction, out: List[str]) -> None:
        self.ctx.warn("D2S001", "%s is not translated" % instruction.keyword, instruction.span.line,
                      instruction.span.column)

    def do_arg(self, instruction: Arg, out: List[str]) -> None:
        for declaration in instruction.declarations:
            # An ENV of the same name wins over the ARG, in RUN's environment too.
            if declaration.value is not None and declaration.name not in self.env_set:
                if not (declaration.name.isascii() and declaration.name.isidentifier()):  # (is_shell_name)
                    self.ctx.warn("D2S019", "ARG name %r is not a shell variable name; it is not set in %%post"
                                  % declaration.name, instruction.span.line, instruction.span.column)
                    continue
                out.append(f"export {declaration.name}={quote(declaration.value)}")

    def do_env(self, instruction: Env, out: List[str]) -> None:
        for pair in instruction.pairs:
            key = pair.key
            self.env_set.add(key)
            if not (key.isascii() and key.isidentifier()):  # (is_shell_name, inline)
                self.ctx.warn("D2S019", "ENV name %r is not a shell variable name; it is not set in %%post"
                              % key, instruction.span.line, instruction.span.column)
                continue
            line = f"export {key}={quote(pair.value)}"  # (f-strings: cheaper than % on these hot lines)
            out.append(line)
            self.env_exports[key] = (pair.value, line)

    def do_workdir(self, instruction: Workdir, out: List[str]) -> None:
        path = quote(instruction.path)
        user = instruction.user
        if _non_root(user):
            if ":" in user:
                owner = quote(user)
            else:  # Docker: the user's primary group, or root's group when it has none
                owner = '"$(id -u %s 2>/dev/null || echo %s):$(id -g %s 2>/dev/null || echo 0)"' % (
                    quote(user), quote(user), quote(user))
            out.append("[ -d %s ] || { mkdir -p %s && chown %s %s; }" % (path, path, owner, path))
        else:
            out.append(f"mkdir -p {path}")

    def do_run(self, instruction: Run, out: List[str]) -> None:
        user, mounts = instruction.user, instruction.mounts
        as_user = user and _non_root(user)
        if as_user:
            self.as_user = True
        if mounts:
            self.mounts = True
        if instruction.files:  # (RUN heredocs: rare)
            for path, content, mode in instruction.files:
                out += _write_file(path, content, mode)
        workdir = instruction.workdir or "/"
        if workdir != self._workdir:
            self._workdir, self._cd = workdir, "cd " + quote(workdir)
        command = instruction.command
        if isinstance(command, ExecForm):
            if not command.argv:
                return
            program = "exec " + words(command.argv)
        else:
            shell = instruction.shell
            if shell != self._shell:  # quoted again only when the SHELL differs from the last RUN's
                self._shell, self._shell_words = shell, words(shell)
            if "\n" in command.text:
                script = "%s/run-%d" % (STAGING, instruction.span.line)
                out += _write_file(script, command.text)
                program = 'exec %s "$(cat %s)"' % (self._shell_words, script)
            else:
                program = f"exec {self._shell_words} {quote(command.text)}"
        after = None
        if mounts:
            before, after = mount_lines(self, instruction)
            out += before
        if as_user:
            out.append("( %s && d2s_as %s %s )" % (self._cd, quote(user), quote(program)))
        else:
            out.append(f"( {self._cd} && {program} )")
        if after:
            out += after

    def do_copy(self, instruction: Copy, out: List[str]) -> None:
        if instruction.plan:
            self.copies = True
        out += copy_lines(self, instruction)

    def do_cmd(self, instruction: Cmd, out: List[str]) -> None:
        if self.final:
            out.append("# (see %runscript)")

    do_entrypoint = do_cmd  # the same note

    def do_volume(self, instruction: Volume, out: List[str]) -> None:
        # Docker creates the volume folders; they also make good --bind targets.
        if instruction.paths:
            out.append("mkdir -p %s" % words(instruction.paths))

    # -- runtime sections -----------------------------------------------------------------------
    def runtime_sections(self, plain_labels: List[str]) -> List[str]:
        runtime = self.stage.runtime
        sections = []
        if runtime.env:
            env_lines = []
            exports = self.env_exports
            for key, value in runtime.env:
                export = exports.get(key)
                if export is not None and export[0] == value:
                    env_lines.append(export[1])
                elif is_shell_name(key):
                    env_lines.append(f"export {key}={quote(value)}")
            if env_lines:
                sections += _section("environment", env_lines, define_newline=True)
        # The same body under both headers; one command a line (no value quoted spans lines).
        body = _newline_defined(f"{INDENT}{_NEXT_LINE.join(self.runscript())}\n")
        if len(body) < _LONG_SECTION - len("%startscript"):  # the usual size: no _headed calls to cut nothing
            sections += ("%runscript", body, "%startscript", body)
        else:
            sections += _headed("%runscript", body) + _headed("%startscript", body)
        if plain_labels:
            sections += _section("labels", plain_labels)
        return sections

    def labels(self) -> Tuple[List[str], List[str]]:
        """The final stage's labels: the %labels lines, and the %post lines of those %labels cannot
        carry, which %post writes into labels.json instead."""
        plain, post = [], []
        labels = self.stage.runtime.labels
        if not labels:
            return plain, post
        base = (self.config or {}).get("Labels") or {}
        for key, value in labels:
            if (key in base  # %labels cannot override an inherited label (without build --force)
                    # %..., #..., spaces: misread or dropped
                    or not (key.isascii() and key.encode().translate(_LABEL_KEY_TABLE).isalnum())
                    or key[0] in ".:/@+-"
                    or "{{" in value
                    or value != value.strip()  # Apptainer trims
                    or not value.isprintable()):  # newlines, tabs, line separators
                post.append("d2s_label %s %s" % (_json_word(key), _json_word(value)))
            else:
                plain.append(f"{key} {value}")
        if post and any("d2s_json_text" in line for line in post):
            post.insert(0, JSON_TEXT_HELPER)
        return plain, post

    def runscript(self) -> List[str]:
        runtime = self.stage.runtime
        lines = [f"cd {quote(runtime.workdir or '/')} || exit 1"]
        entrypoint = runtime.entrypoint.argv if runtime.entrypoint else None
        cmd = runtime.cmd.argv if runtime.cmd else None
        if not runtime.base_known and entrypoint is None:
            # Only the image knows its base's ENTRYPOINT (saved in %post from Apptainer's runscript).
            if cmd is None:  # the usual case: all but the cd line fixed, joined at import
                lines.append(_BASE_COMMAND_RUN)
                return lines
            lines += [_LOAD_BASE_COMMAND, '[ "$#" -gt 0 ] || set -- %s' % words(cmd),
                      'eval "set -- $OCI_ENTRYPOINT \\"\\$@\\""', _NO_COMMAND, 'exec "$@"']
            return lines
        if entrypoint:
            if cmd:
                lines.append('[ "$#" -gt 0 ] || set -- %s' % words(cmd))
            lines.append('exec %s "$@"' % words(entrypoint))
        else:
            if cmd:
                lines.append('[ "$#" -gt 0 ] || set -- %s' % words(cmd))
            else:  # Docker refuses to run an image with neither, unless given a command
                lines.append(_NO_COMMAND)
            lines.append('exec "$@"')
        return lines


# IR class -> the StageWriter method that translates it into %post lines; None: it has none (what it
# sets is in the runtime sections, or Apptainer has no such thing), so no call.
_HANDLERS: Dict[type, object] = {kind: getattr(StageWriter, "do_" + kind.__name__.lower()) for kind in (
    Arg, Cmd, Copy, Entrypoint, Env, Run, Volume, Workdir)}
_HANDLERS.update(dict.fromkeys((From, Expose, Healthcheck, Label, Maintainer, Onbuild, Shell, StopSignal, User)))


def _json_word(value: str) -> str:
    """A shell word whose value is ``value`` JSON-encoded; base-image variables are encoded in %post."""
    if not has_deferred(value):
        return quote(json.dumps(value))
    inside = "".join('"$(d2s_json_text "${%s}")"' % text if marker else quote(json.dumps(text)[1:-1])
                     for marker, text in deferred_pieces(value))
    return '\'"\'' + inside + '\'"\''


# Apptainer reads a section in one piece of at most 64 KiB (D2S215) and joins sections of the same
# name back in order: a longer one is written as several (deffile.section_cuts). A section of fewer
# characters than this is under the limit whatever they are (4 bytes a character at most).
_LONG_SECTION = 14000
_PRINTF_BYTES = 4096


def _section(name: str, lines: List[str], define_newline: bool = False) -> List[str]:
    """The section ``%name`` with these lines (a line may hold several), indented, as _headed's parts;
    ``define_newline``: first define d2s_nl if the lines use it."""
    body = _body(lines)
    if define_newline:
        body = _newline_defined(body)
    return _headed("%" + name, body)


def _body(lines: List[str]) -> str:
    """A section's body: every line indented (an empty one left empty) and ending in a newline."""
    if not lines:
        return ""
    # The usual case, every item one non-empty line: one join indents them all. (Scanning the text
    # for empty lines, or indenting with replace, cost several times more than the joins and the
    # memchr here.)
    if all(lines) and "\n" not in "".join(lines):
        return f"{INDENT}{_NEXT_LINE.join(lines)}\n"  # (one copy of the text; two + would make two)
    return "".join(map(_indented, lines))


def _indented(text: str) -> str:
    """``text``'s lines indented, an empty one left empty, each ending in a newline."""
    if "\n" not in text:
        return INDENT + text + "\n" if text else "\n"
    return _PRE_INDENTED.get(text) or _indent_lines(text)


def _indent_lines(text: str) -> str:
    return "".join(INDENT + piece + "\n" if piece else "\n" for piece in text.split("\n"))


_NEXT_LINE = "\n" + INDENT
_REMOVE_STAGING = "rm -rf %s" % STAGING  # %post's last line
_DEFAULT_SHELL_WORDS = words(DEFAULT_SHELL)
# Runscript lines (StageWriter.runscript); _BASE_COMMAND_RUN is several, joined as _body would.
_LOAD_BASE_COMMAND = "OCI_ENTRYPOINT=''; OCI_CMD=''; . %s" % BASE_COMMAND
_NO_COMMAND = '[ "$#" -gt 0 ] || { echo "no command specified" >&2; exit 1; }'
_BASE_COMMAND_RUN = _NEXT_LINE.join([
    _LOAD_BASE_COMMAND,
    'if [ "$#" -gt 0 ]; then eval "set -- $OCI_ENTRYPOINT \\"\\$@\\""; else eval "set -- $OCI_ENTRYPOINT $OCI_CMD"; fi',
    _NO_COMMAND,
    'exec "$@"',
])
# The multi-line blocks %post holds in most stages, indented once when d2s loads.
_PRE_INDENTED = {text: _indent_lines(text) for text in (
    POST_START, SOURCE_DOCKER_ENV, SAVE_BASE_COMMAND, COPY_HELPER, AS_USER_HELPER, MOUNT_HELPER, LABEL_HELPER,
    JSON_TEXT_HELPER)}


def _newline_defined(body: str, scanned: Optional[str] = None) -> str:
    """``body``, preceded by the definition of d2s_nl when it uses it (when ``scanned``, the part of
    it that may, uses it)."""
    if NEWLINE_WORD in (body if scanned is None else scanned):
        return INDENT + NEWLINE_DEFINITION + "\n" + body
    return body


def _headed(header: str, body: str) -> List[str]:
    """The section with this ``%...`` line and body, cut in pieces if over Apptainer's window; as parts
    of the text emit joins with newlines (the header and the body, not copied into one string here)."""
    if len(header) + len(body) >= _LONG_SECTION and _over_window(header, body):
        text = header + "\n" + body
        return [_cut_section(text[:-1].split("\n"), text.isascii())]
    return [header, body]


def _over_window(header: str, body: str) -> bool:
    """Whether the body's bytes are more than one piece of the section holds. When they are not,
    section_cuts would cut nowhere: most sections past _LONG_SECTION characters are well under
    Apptainer's 64 KiB, and need no walk over their lines."""
    from .deffile import section_budget

    if "\n" in header:  # (never from d2s: left to _cut_section, which reads it as lines)
        return True
    size = len(body) if body.isascii() else len(body.encode("utf-8", "surrogateescape"))
    return size > section_budget(header)


def _cut_section(out: List[str], ascii: bool = False) -> str:
    """A section's lines (its header first) as several sections where it is over Apptainer's window,
    cut between commands: not after a continued line. ``ascii``: every character is one byte."""
    from .deffile import section_budget, section_cuts

    header, body = out[0], out[1:]
    if ascii:  # str.isascii is O(1): no need to encode every line to count its bytes
        sizes = [len(text) + 1 for text in body]
    else:
        sizes = [len(text.encode("utf-8", "surrogateescape")) + 1 for text in body]
    safe = [index == 0 or not body[index - 1].endswith("\\") for index in range(len(body))]
    cuts = set(section_cuts(sizes, safe, section_budget(header)))
    pieces = [header]
    for index, text in enumerate(body):
        if index in cuts:
            pieces.append(header)
        pieces.append(text)
    return "\n".join(pieces) + "\n"


def _write_file(path: str, text: str, mode: Optional[str] = None) -> List[str]:
    """Lines that write ``text`` to ``path`` byte for byte, one quoted source line per def line."""
    pieces = text.split("\n")
    trailing = pieces[-1] == ""
    if trailing:
        pieces = pieces[:-1]
    lines = [f"mkdir -p {quote(path.rsplit('/', 1)[0] or '/')}"]
    if not pieces:
        lines.append(": > %s" % quote(path))
    else:
        lines.append("{")
        body = pieces if trailing else pieces[:-1]
        # A printf for every few KB: a long section can be cut between commands, not in one (_section).
        words = [_line_word(piece) for piece in body]
        group = 0
        for i, word in enumerate(words):
            if not group:
                lines.append("    printf '%s\\n' \\")
            group += len(word) + 11  # with the indent and the continuation
            last = i == len(words) - 1 or group + len(words[i + 1]) + 11 > _PRINTF_BYTES
            lines.append(f"        {word}" if last else f"        {word} \\")
            if last:
                group = 0
        if not trailing:
            lines.append("    printf '%%s' %s" % _line_word(pieces[-1]))
        lines.append(f"}} > {quote(path)}")
    if mode:
        lines.append("chmod %s %s" % (mode, quote(path)))
    return lines


def _line_word(piece: str) -> str:
    # Always quoted, so no def line can begin with % or bootstrap:.
    word = quote(piece)
    if word[:1] in "'\"":
        return word
    return "''" + word if has_deferred(piece) else "'" + piece + "'"


def _non_root(user) -> bool:
    return bool(user) and user.split(":")[0] not in ("root", "0")


def _base_name(path: str) -> str:
    # os.path.basename's own work, without its Python-level calls (a path is a str)
    name = os.fspath(path).rpartition("/")[2] or path
    return name if name.isprintable() else one_line(name)  # (one_line's own quick test)
