"""Dockerfile text -> IR (ir.Dockerfile), exactly as BuildKit reads it.

Two steps. A scanner turns physical lines into logical instructions the way BuildKit's parser
does (spec-digest A.1, A.2, A.4): BOM, parser directives, continuation with the escape
character, comment and blank lines inside continuations, heredoc bodies. Then the Lark grammar
(grammar/dockerfile.lark, LALR with a contextual lexer) parses each logical line into keyword,
flags and rest, and :class:`ToInstruction`, the only code that knows the tree's shape, builds the
typed instruction, checking it as BuildKit's instruction layer does. Values stay raw: expansion
is a pass.
"""

import difflib
import json
import os
import re
from typing import Dict, List, Optional, Tuple

from .errors import D2SError
from .ir import (
    Arg,
    ArgDeclaration,
    Cmd,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    ExecForm,
    Expose,
    Flag,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    ShellForm,
    Span,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)

MAX_LINE = 65535
DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_SPLIT = re.compile(r"[\t\v\f\r ]+")
_JSON = json.JSONDecoder()

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")

# Flags each instruction accepts: name -> kind ("string", "bool", "list").
FLAGS = {
    "FROM": {"platform": "string"},
    "RUN": {"mount": "list", "network": "string", "security": "string", "device": "list"},
    "COPY": {"from": "string", "chown": "string", "chmod": "string", "link": "bool", "parents": "bool",
             "exclude": "list"},
    "ADD": {"chown": "string", "chmod": "string", "link": "bool", "checksum": "string", "keep-git-dir": "bool",
            "unpack": "bool", "exclude": "list"},
    "HEALTHCHECK": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}


class LogicalLine:
    """One instruction as BuildKit assembles it, before the grammar sees it."""

    __slots__ = ("text", "line", "column", "end_line", "heredocs")

    def __init__(self, text: str, line: int, column: int, end_line: int):
        self.text = text
        self.line = line
        self.column = column
        self.end_line = end_line
        self.heredocs: List[Heredoc] = []


# -- the scanner -----------------------------------------------------------------------------------

def _directives(lines: List[str], path: str) -> Tuple[Dict[str, str], int]:
    """Parser directives at the top of the file, and the index of the first line after them."""
    found: Dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index].strip())
        if not match:
            break
        key = match.group(1).lower()
        if key not in DIRECTIVES:
            break  # an unknown key is a comment, and ends the directives
        if key in found:
            raise D2SError("only one %s parser directive can be used" % key, index + 1, 1, path)
        found[key] = match.group(2)
        index += 1
    if "escape" in found and found["escape"] not in ("\\", "`"):
        raise D2SError("invalid escape token '%s' does not match ` or \\" % found["escape"], 1, 1, path)
    return found, index


def _continues(line: str, escape: str) -> bool:
    """BuildKit's continuation rule: the escape char last (blanks may follow), not itself escaped."""
    stripped = line.rstrip(" \t")
    if not stripped.endswith(escape):
        return False
    if stripped == escape:
        return True
    return stripped[-2] != escape


def _drop_escape(line: str, escape: str) -> str:
    return line.rstrip(" \t")[:-1]


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def scan(text: str, path: str) -> Tuple[Dict[str, str], str, List[LogicalLine]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if line.endswith("\r"):
            lines[number - 1] = line = line[:-1]
        if len(line.encode("utf-8")) > MAX_LINE:
            raise D2SError("dockerfile line greater than max allowed size of %d" % MAX_LINE, number, 1, path)
    directives, index = _directives(lines, path)
    escape = directives.get("escape", "\\")
    result: List[LogicalLine] = []
    total = len(lines)
    while index < total:
        raw = lines[index]
        stripped = raw.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index
        column = len(raw) - len(stripped) + 1
        pieces = []
        current = stripped
        while True:
            if _continues(current, escape):
                pieces.append(_drop_escape(current, escape))
                index += 1
                # comment and blank lines inside a continuation are skipped
                while index < total and (not lines[index].strip(" \t") or _is_comment(lines[index])):
                    index += 1
                if index >= total:
                    break
                current = lines[index]
                continue
            pieces.append(current)
            break
        logical = LogicalLine("".join(pieces), start + 1, column, min(index, total - 1) + 1)
        index += 1
        index = _collect_heredocs(logical, lines, index, escape, path)
        result.append(logical)
    return directives, escape, result


def _keyword_of(text: str) -> str:
    word = text.split(None, 1)[0] if text.strip() else ""
    return word.upper()


def shell_words(text: str, escape: str) -> List[Tuple[str, int]]:
    """Words of ``text`` split on unquoted blanks, quotes and escapes kept, with their offsets."""
    words = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n\v\f":
            i += 1
        if i >= n:
            break
        start = i
        quote = None
        while i < n:
            c = text[i]
            if quote:
                if c == escape and quote == '"' and i + 1 < n:
                    i += 2
                    continue
                if c == quote:
                    quote = None
            elif c == escape and i + 1 < n:
                i += 2
                continue
            elif c in "\"'":
                quote = c
            elif c in " \t\r\n\v\f":
                break
            i += 1
        words.append((text[start:i], start))
    return words


def _heredoc_names(logical: LogicalLine, escape: str, path: str) -> List[Tuple[str, bool, bool, int]]:
    """(name, expand, chomp, fd) of each heredoc the logical line opens, in order."""
    text = logical.text
    keyword = _keyword_of(text)
    rest = text.lstrip().split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    if keyword == "ONBUILD":
        keyword = _keyword_of(rest)
    if keyword not in HEREDOC_INSTRUCTIONS or "<<" not in text:
        return []
    body = rest
    if _keyword_of(text) == "ONBUILD":
        body = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    if body.lstrip().startswith("["):
        try:
            value = json.loads(_strip_flags(body, escape))
            if isinstance(value, list):
                return []
        except ValueError:
            pass
    found = []
    # The lexer glues "<<" and the blanks after it to the next word.
    joined = re.sub(r"(<<-?)[ \t]+", r"\1", body)
    for word, _ in shell_words(joined, escape):
        match = _HEREDOC_WORD.match(word)
        if not match or word.startswith(("'", '"')):
            continue
        raw_name = match.group(3)
        if not raw_name:
            continue
        quoted = any(q in raw_name for q in "'\"")
        if raw_name.count("'") % 2 or raw_name.count('"') % 2:
            raise D2SError("unterminated quote in heredoc delimiter %s" % word, logical.line, logical.column, path)
        name = raw_name.replace("'", "").replace('"', "")
        name = re.sub(re.escape(escape) + "(.)", r"\1", name)
        found.append((name, not quoted, match.group(2) == "-", int(match.group(1)) if match.group(1) else 0))
    return found


def _strip_flags(body: str, escape: str) -> str:
    words = shell_words(body, escape)
    for word, offset in words:
        if not word.startswith("--"):
            return body[offset:]
    return ""


def _collect_heredocs(logical: LogicalLine, lines: List[str], index: int, escape: str, path: str) -> int:
    for name, expand, chomp, fd in _heredoc_names(logical, escape, path):
        body = []
        while True:
            if index >= len(lines):
                raise D2SError("unterminated heredoc %s" % name, logical.line, logical.column, path)
            line = lines[index]
            index += 1
            if (line.lstrip("\t") if chomp else line) == name:
                break
            body.append(line + "\n")  # raw: <<- strips tabs where the body is used
        logical.heredocs.append(Heredoc(name, "".join(body), expand, chomp, fd, Span(logical.line)))
        logical.end_line = index
    return index


# -- the grammar -------------------------------------------------------------------------------------

_PARSERS: Dict[str, object] = {}


def _cache_file() -> Optional[str]:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    folder = os.path.join(root, "d2s")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def grammar_parser(escape: str):
    """The LALR parser for instruction lines, built once per escape character (grammar cached on disk)."""
    parser = _PARSERS.get(escape)
    if parser is None:
        from importlib import resources

        from lark import Lark

        name = "dockerfile_backtick.lark" if escape == "`" else "dockerfile.lark"
        folder = resources.files("dockerfile2def.grammar") if hasattr(resources, "files") else None
        if folder is not None:
            path = str(folder / name)
        else:  # Python 3.8 fallback
            import dockerfile2def.grammar as package

            path = os.path.join(os.path.dirname(package.__file__), name)
        cache = _cache_file()
        options = dict(parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
        if cache:
            options["cache"] = os.path.join(cache, "grammar-%s-%s.lark.cache"
                                            % ("backtick" if escape == "`" else "backslash", _grammar_stamp(path)))
        with open(path, encoding="utf-8") as handle:
            parser = Lark(handle.read(), import_paths=[os.path.dirname(path)], **options)
        _PARSERS[escape] = parser
    return parser


def _grammar_stamp(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in ("dockerfile.lark", "dockerfile_backtick.lark"):
        try:
            with open(os.path.join(os.path.dirname(path), name), "rb") as handle:
                digest.update(handle.read())
        except OSError:
            pass
    return digest.hexdigest()[:16]


# -- the transformer: parse tree -> IR instruction ---------------------------------------------------

def _flag_value_unquote(text: str, escape: str) -> str:
    """Quotes inside a flag are removed and the escape character escapes (BuildKit's flag words)."""
    out = []
    i = 0
    quote = None
    while i < len(text):
        c = text[i]
        if c == escape and i + 1 < len(text) and quote != "'":
            out.append(text[i + 1])
            i += 2
            continue
        if quote:
            if c == quote:
                quote = None
            else:
                out.append(c)
        elif c in "\"'":
            quote = c
        else:
            out.append(c)
        i += 1
    return "".join(out)


class ToInstruction:
    """Builds one IR instruction from the parse tree of a logical line (the only code that knows it)."""

    def __init__(self, escape: str, path: str):
        self.escape = escape
        self.path = path

    def error(self, message: str, logical: LogicalLine, offset: int = 0) -> D2SError:
        return D2SError(message, logical.line, logical.column + offset, self.path)

    def __call__(self, tree, logical: LogicalLine, text: Optional[str] = None, trigger: bool = False) -> Instruction:
        text = logical.text if text is None else text
        keyword_token = tree.children[0]
        flags_tokens = [c.children[0] for c in tree.children[1:] if c.data == "flag"]
        rest_tokens = [c.children[0] for c in tree.children[1:] if c.data == "rest"]
        keyword = str(keyword_token).upper()
        offset = (logical.text.find(text) if text is not logical.text else 0)
        span = Span(logical.line, logical.column + max(offset, 0), logical.end_line)
        if keyword not in INSTRUCTIONS:
            suggestion = difflib.get_close_matches(keyword, INSTRUCTIONS, n=1, cutoff=0.6)
            hint = " (did you mean %s?)" % suggestion[0] if suggestion else ""
            raise D2SError("unknown instruction: %s%s" % (str(keyword_token), hint), span.line, span.column,
                           self.path)
        flags: List[Flag] = []
        rest_text = str(rest_tokens[0]).strip(" \t") if rest_tokens else ""
        rest_start = rest_tokens[0].start_pos + (len(str(rest_tokens[0])) - len(str(rest_tokens[0]).lstrip(" \t"))) \
            if rest_tokens else len(text)
        for n, token in enumerate(flags_tokens):
            word = str(token).lstrip(" \t")
            if word == "--":  # a bare -- ends the flags: the words after it are arguments
                following = token.end_pos
                rest_start = following + (len(text[following:]) - len(text[following:].lstrip(" \t")))
                rest_text = text[following:].strip(" \t")
                break
            flag_column = span.column + token.start_pos + (len(str(token)) - len(word))
            name, has_value, value = word[2:].partition("=")
            flags.append(Flag(name, _flag_value_unquote(value, self.escape) if has_value else None,
                              Span(span.line, flag_column, span.end_line)))
        self._check_flags(keyword, flags, span)
        rest_column = span.column + rest_start
        build = getattr(self, "do_" + keyword.lower())
        node = build(keyword, span, flags, rest_text, rest_column, logical, text)
        node.original = text.rstrip("\n") if not logical.heredocs else text
        return node

    # flags --------------------------------------------------------------------------------------
    def _check_flags(self, keyword: str, flags: List[Flag], span: Span) -> None:
        allowed = FLAGS.get(keyword, {})
        seen = set()
        for flag in flags:
            kind = allowed.get(flag.name)
            if kind is None:
                choices = difflib.get_close_matches(flag.name, list(allowed), n=1)
                hint = " (did you mean --%s?)" % choices[0] if choices else ""
                raise D2SError("unknown flag: --%s%s" % (flag.name, hint), flag.span.line, flag.span.column,
                               self.path)
            if kind == "bool":
                if flag.value is not None and flag.value.lower() not in ("true", "false"):
                    raise D2SError("expecting boolean value for flag --%s, not: %s" % (flag.name, flag.value),
                                   flag.span.line, flag.span.column, self.path)
            elif flag.value is None:
                raise D2SError("missing a value on flag: --%s" % flag.name, flag.span.line, flag.span.column,
                               self.path)
            if kind != "list":
                if flag.name in seen:
                    raise D2SError("duplicate flag specified: --%s" % flag.name, flag.span.line,
                                   flag.span.column, self.path)
                seen.add(flag.name)

    # argument forms -------------------------------------------------------------------------------
    def _json(self, rest: str, logical: LogicalLine, column: int):
        """The exec form's argv, or None when the text is not a JSON array (shell form then)."""
        if not rest.startswith("["):
            return None
        try:
            # Like Go's json decoder in BuildKit: the first JSON value counts, text after it is ignored.
            value, _ = _JSON.raw_decode(rest)
        except ValueError:
            return None
        if not isinstance(value, list):
            return None
        if not all(isinstance(item, str) for item in value):
            raise D2SError("when using JSON array syntax, arrays must be comprised of strings only",
                           logical.line, column, self.path)
        return value

    def _command(self, rest: str, logical: LogicalLine, column: int):
        argv = self._json(rest, logical, column)
        return ExecForm(argv) if argv is not None else ShellForm(rest)

    def _require(self, keyword: str, rest: str, span: Span, what: str = "at least one argument"):
        if not rest:
            raise D2SError("%s requires %s" % (keyword, what), span.line, span.column, self.path)

    def _words(self, rest: str) -> List[str]:
        return [w for w, _ in shell_words(rest, self.escape)]

    # instructions ---------------------------------------------------------------------------------
    def do_from(self, keyword, span, flags, rest, column, logical, text):
        words = [w for w in _SPLIT.split(rest) if w]
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise D2SError("FROM requires either one or three arguments", span.line, span.column, self.path)
        name = None
        if len(words) == 3:
            name = words[2].lower()
            if not _STAGE_NAME.match(name):
                raise D2SError('invalid name for build stage: "%s", name can\'t start with a number or contain '
                               "symbols" % words[2], span.line, column + rest.rfind(words[2]), self.path)
        platform = None
        for flag in flags:
            if flag.name == "platform":
                platform = flag.value
        node = From(keyword, span, flags, image=words[0], stage_name=name, platform=platform)
        node.as_word = words[1] if len(words) == 3 else None
        return node

    def do_run(self, keyword, span, flags, rest, column, logical, text):
        if not rest and not logical.heredocs:
            self._require(keyword, rest, span)
        command = self._command(rest, logical, column)
        return Run(keyword, span, flags, command=command, heredocs=list(logical.heredocs))

    def do_cmd(self, keyword, span, flags, rest, column, logical, text):
        return Cmd(keyword, span, flags, command=self._command(rest, logical, column))

    def do_entrypoint(self, keyword, span, flags, rest, column, logical, text):
        return Entrypoint(keyword, span, flags, command=self._command(rest, logical, column))

    def do_shell(self, keyword, span, flags, rest, column, logical, text):
        argv = self._json(rest, logical, column)
        if argv is None:
            raise D2SError("SHELL requires the arguments to be in JSON form", span.line, span.column, self.path)
        if not argv:
            raise D2SError("SHELL requires at least one argument", span.line, span.column, self.path)
        return Shell(keyword, span, flags, argv=argv)

    def _pairs(self, keyword, span, rest, column):
        words = shell_words(rest, self.escape)
        if not words:
            raise D2SError("%s requires at least one argument" % keyword, span.line, span.column, self.path)
        if "=" not in words[0][0]:
            # legacy form: NAME VALUE, the value being the whole rest of the line
            if len(words) < 2:
                raise D2SError("%s must have two arguments" % keyword, span.line, span.column, self.path)
            first, _ = words[0]
            value = rest[len(first):].strip(" \t")
            return [KeyValue(first, value)], True
        pairs = []
        for word, offset in words:
            if "=" not in word:
                raise D2SError("Syntax error - can't find = in %s. Must be of the form: name=value"
                               % json.dumps(word), span.line, column + offset, self.path)
            key, _, value = word.partition("=")
            if not key:
                raise D2SError("%s names can not be blank" % keyword, span.line, column + offset, self.path)
            pairs.append(KeyValue(key, value))
        return pairs, False

    def do_env(self, keyword, span, flags, rest, column, logical, text):
        pairs, legacy = self._pairs(keyword, span, rest, column)
        return Env(keyword, span, flags, pairs=pairs, legacy=legacy)

    def do_label(self, keyword, span, flags, rest, column, logical, text):
        pairs, legacy = self._pairs(keyword, span, rest, column)
        return Label(keyword, span, flags, pairs=pairs, legacy=legacy)

    def do_arg(self, keyword, span, flags, rest, column, logical, text):
        words = shell_words(rest, self.escape)
        if not words:
            raise D2SError("ARG requires at least one argument", span.line, span.column, self.path)
        declarations = []
        for word, offset in words:
            name, has_default, default = word.partition("=")
            if not name:
                raise D2SError("ARG names can not be blank", span.line, column + offset, self.path)
            declarations.append(ArgDeclaration(name, default if has_default else None))
        return Arg(keyword, span, flags, declarations=declarations)

    def _paths(self, keyword, span, rest, column, logical):
        argv = self._json(rest, logical, column)
        if argv is not None:
            return argv, True
        return [w for w in _SPLIT.split(rest) if w], False

    def do_copy(self, keyword, span, flags, rest, column, logical, text):
        paths, is_json = self._paths(keyword, span, rest, column, logical)
        if len(paths) < 2:
            raise D2SError("%s requires at least two arguments, but only one was provided. Destination could not "
                           "be determined" % keyword if paths else "%s requires at least two arguments" % keyword,
                           span.line, span.column, self.path)
        heredocs = list(logical.heredocs) if not is_json else []
        if heredocs and _HEREDOC_WORD.match(paths[-1]):
            raise D2SError("%s cannot accept a heredoc as a destination" % keyword, span.line, span.column,
                           self.path)
        if keyword == "COPY":
            for flag in flags:
                if flag.name == "checksum":
                    raise D2SError("checksum can't be specified for COPY", span.line, span.column, self.path)
        return Copy(keyword, span, flags, sources=paths[:-1], destination=paths[-1], json=is_json,
                    heredocs=heredocs)

    do_add = do_copy

    def do_workdir(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span, "exactly one argument")
        return Workdir(keyword, span, flags, path=rest)

    def do_user(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span, "exactly one argument")
        return User(keyword, span, flags, user=rest)

    def do_stopsignal(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span, "exactly one argument")
        return StopSignal(keyword, span, flags, signal=rest)

    def do_maintainer(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span, "exactly one argument")
        return Maintainer(keyword, span, flags, name=rest)

    def do_expose(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span)
        return Expose(keyword, span, flags, ports=[w for w in _SPLIT.split(rest) if w])

    def do_volume(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span)
        paths, is_json = self._paths(keyword, span, rest, column, logical)
        return Volume(keyword, span, flags, paths=paths, json=is_json)

    def do_healthcheck(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span)
        parts = rest.split(None, 1)
        kind = parts[0].upper()
        after = parts[1].strip() if len(parts) > 1 else ""
        if kind == "NONE":
            if after or flags:
                raise D2SError("HEALTHCHECK NONE takes no arguments", span.line, span.column, self.path)
            return Healthcheck(keyword, span, flags, kind="NONE")
        if kind != "CMD":
            raise D2SError('Unknown type "%s" in HEALTHCHECK (try CMD)' % parts[0], span.line, column, self.path)
        if not after:
            raise D2SError("Missing command after HEALTHCHECK CMD", span.line, span.column, self.path)
        for flag in flags:
            if flag.name == "retries" and not re.match(r"^\d+$", flag.value or ""):
                raise D2SError("--retries must be a non-negative integer, not: %s" % flag.value,
                               flag.span.line, flag.span.column, self.path)
        return Healthcheck(keyword, span, flags, kind="CMD", command=self._command(after, logical, column))

    def do_onbuild(self, keyword, span, flags, rest, column, logical, text):
        self._require(keyword, rest, span)
        trigger_keyword = _keyword_of(rest)
        if trigger_keyword == "ONBUILD":
            raise D2SError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", span.line, column, self.path)
        if trigger_keyword in ("FROM", "MAINTAINER"):
            raise D2SError("%s isn't allowed as an ONBUILD trigger" % trigger_keyword, span.line, column, self.path)
        tree = _parse_line(rest, self.escape, logical, self.path)
        trigger = self(tree, logical, text=rest, trigger=True)
        return Onbuild(keyword, span, flags, trigger=trigger)


def _parse_line(text: str, escape: str, logical: LogicalLine, path: str):
    from lark.exceptions import LarkError

    try:
        return grammar_parser(escape).parse(text)
    except LarkError as err:
        column = getattr(err, "column", 1) or 1
        raise D2SError("cannot parse this instruction: %s" % str(err).splitlines()[0], logical.line,
                       logical.column + column - 1, path)


# -- the file ----------------------------------------------------------------------------------------

def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text``. Raises :class:`D2SError` with the line and column of bad input."""
    if "\x00" in text:
        before = text[: text.index("\x00")]
        raise D2SError("input contains a NUL byte (binary file?)", before.count("\n") + 1,
                       len(before) - (before.rfind("\n") + 1) + 1, path)
    directives, escape, logical_lines = scan(text, path)
    if not logical_lines:
        raise D2SError("file with no instructions", 1, 1, path)
    build = ToInstruction(escape, path)
    stages: List[Stage] = []
    global_args: List[Arg] = []
    names = set()
    for logical in logical_lines:
        instruction = build(_parse_line(logical.text, escape, logical, path), logical)
        if isinstance(instruction, From):
            if instruction.stage_name:
                if instruction.stage_name in names:
                    raise D2SError('duplicate stage name "%s"' % instruction.stage_name, logical.line,
                                   logical.column, path)
                names.add(instruction.stage_name)
            stages.append(Stage(len(stages), instruction))
        elif not stages:
            if not isinstance(instruction, Arg):
                raise D2SError("no build stage in current context", logical.line, logical.column, path)
            global_args.append(instruction)
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        first = logical_lines[0]
        raise D2SError("no build stage in current context (a Dockerfile needs a FROM)", first.line, first.column,
                       path)
    return Dockerfile(stages=stages, global_args=global_args, directives=directives, escape=escape, path=path)
