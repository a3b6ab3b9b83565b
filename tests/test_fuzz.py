"""Fuzzing d2s with Hypothesis: no crash, located errors, same bytes twice, a .def Apptainer reads as written.

Inputs: Dockerfiles generated from the grammar (valid, and near-valid through small mutations), and
mutations of the real corpus (line deletions, duplications and swaps, truncation, byte flips, stray
escapes, quotes, heredoc markers, def-file syntax). Properties:

* ``convert`` returns, or raises ``D2SError`` whose line is inside the input; nothing else escapes;
* converting the same input twice gives the same bytes (and the same diagnostics);
* a returned definition keeps its structure: every stage has a valid header, every section is a
  valid one and appears once, no ``bootstrap:`` line or live ``{{ }}`` slipped in (test_safety's model
  of Apptainer's parser);
* the CLI (in-process, ``dockerfile2def.__main__.main``) exits 0, 1 or 2 and never prints a traceback;
  its errors are one ``PATH:LINE:COL: error:`` line; it writes nothing on error; the real ``d2s``
  entry point behaves the same in a subprocess;
* values (ENV, LABEL, ARG, --build-arg) cannot inject: the .def's structure is that of a benign twin,
  and the host shell reads every value back byte for byte;
* the same for definition files: ``dockerfile2def.deffile.parse_definition`` and ``d2s check``.

Profiles: ``ci`` (the default: bounded, derandomized, no example database, a couple of minutes) and
``long`` (``HYPOTHESIS_PROFILE=long``; ``D2S_FUZZ_EXAMPLES`` examples per test, 20,000 by default,
over 100,000 inputs in all).
"""

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from dockerfile2def import D2SError, convert
from dockerfile2def.__main__ import main
from dockerfile2def.conversion import decode_source

from .shared import corpus_files
from .test_safety import (
    Adversarial,
    adversarial,
    apptainer_split,
    benign_twin,
    d2s_command,
    def_problems,
    host_view,
    make_context,
    structure,
)

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
    print_blob=True,
)
settings.register_profile("ci", max_examples=int(os.environ.get("D2S_FUZZ_EXAMPLES", 60)), derandomize=True,
                          database=None, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("D2S_FUZZ_EXAMPLES", 20000)), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CORPUS = corpus_files()
CORPUS_BYTES = {p.name: p.read_bytes() for p in CORPUS}
FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "convert").glob("*/Dockerfile"))


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A small build context: files, a folder, a link, an archive-like name and a .dockerignore."""
    root = tmp_path_factory.mktemp("fuzz-context")
    for path, data in {
        "a.txt": "a\n", "b.txt": "b\n", "dir/c.txt": "c\n", "dir/sub/d.txt": "d\n", "app/main.py": "print(1)\n",
        "requirements.txt": "lark\n", "ignored.key": "IGNORED\n", "Dockerfile": "FROM x\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(data)
    (root / "link").symlink_to("a.txt")
    (root / ".dockerignore").write_text("*.key\n")
    return root


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-cli")


# ------------------------------------------------------------------------------------------------------
# Strategies: Dockerfiles from the grammar
# ------------------------------------------------------------------------------------------------------

# Characters that matter to some layer: the lexer, the shell, the def parser, or a byte handler.
NASTY_CHARS = "\\`'\"$%{}()[]#=:;&|<>*?!~ \t-/@,.\u00e9\u00a0\u2028\u0085\ue000\ue001\r\x0b\x0c\U0001F600"
# No newline (it would end the instruction) and no NUL (refused up front; tests of its own).
nasty_text = st.text(alphabet=st.sampled_from(NASTY_CHARS) | st.characters(blacklist_categories=("Cs",),
                                                                           blacklist_characters="\n\0"),
                     max_size=12)
plain_word = st.text(alphabet="abcxyzABC019_-./", min_size=1, max_size=8)
var_name = st.sampled_from(["a", "A1", "_x", "PATH", "HOME", "name", "a", "b", "BASE"] * 4 + ["9", "weird-name", "x y", ""])
TOKENS = ["%post", "%files", "bootstrap: docker", "{{ x }}", "{{x}}", "$(id)", "`id`", "'", '"', "\\", "$",
          "${", "}", "<<EOF", "#", "%", "--", "=", " ", "\t"]
token = st.sampled_from(TOKENS)


@st.composite
def expansion(draw, depth=0):
    name = draw(var_name)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return "$" + name
    if kind == 1:
        return "${%s}" % name
    inner = draw(expansion(depth + 1)) if depth < 3 and draw(st.booleans()) else draw(plain_word | nasty_text)
    operator = draw(st.sampled_from([":-", "-", ":+", "+", ":?", "?", "#", "##", "%", "%%", "/", "//", ":=", ":"]))
    if operator in ("/", "//"):
        inner = inner + "/" + draw(plain_word)
    closed = draw(st.integers(0, 20)) > 0
    return "${%s%s%s%s" % (name, operator, inner, "}" if closed else "")


@st.composite
def value_word(draw):
    """A word as a Dockerfile writes it: bare, quoted, with expansions and escapes."""
    pieces = draw(st.lists(plain_word | nasty_text | expansion() | token, min_size=1, max_size=4))
    text = "".join(pieces)
    style = draw(st.integers(0, 4))
    if style == 0:
        return "'%s'" % text.replace("'", "")
    if style == 1:
        return '"%s"' % text.replace('"', '\\"')
    if style == 2:
        return text.replace(" ", "\\ ")
    return text


def kv(draw, count=3):
    return " ".join("%s=%s" % (draw(var_name | plain_word), draw(value_word()))
                    for _ in range(draw(st.integers(1, count))))


def exec_form(draw):
    import json

    items = draw(st.lists(plain_word | nasty_text, min_size=0, max_size=4))
    text = json.dumps(items, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # a broken array: shell form, as Docker reads it
    return text


def heredoc(draw, keyword_line):
    name = draw(st.sampled_from(["EOF", "X", "END", "file.txt"]))
    quoted = draw(st.sampled_from(["", "'", '"']))
    chomp = draw(st.sampled_from(["", "-"]))
    lines = draw(st.lists(plain_word | nasty_text | token | expansion(), max_size=4))
    indent = "\t" if chomp and draw(st.booleans()) else ""
    terminated = draw(st.integers(0, 12)) > 0
    header = keyword_line.replace("@@", "<<%s%s%s%s" % (chomp, quoted, name, quoted))
    out = [header] + [indent + line for line in lines]
    if terminated:
        out.append(indent + name)
    return out


@st.composite
def instruction(draw, stages):
    kind = draw(st.sampled_from([
        "RUN", "RUN-exec", "RUN-heredoc", "RUN-mount", "CMD", "ENTRYPOINT", "ENV", "ENV-legacy", "LABEL", "ARG",
        "WORKDIR", "USER", "COPY", "COPY-from", "COPY-heredoc", "ADD", "EXPOSE", "VOLUME", "SHELL", "STOPSIGNAL",
        "HEALTHCHECK", "ONBUILD", "MAINTAINER", "UNKNOWN", "comment", "blank",
    ]))
    word = lambda: draw(value_word())  # noqa: E731
    if kind == "RUN":
        return ["RUN " + " ".join(draw(st.lists(plain_word | nasty_text | token, min_size=1, max_size=5)))]
    if kind == "RUN-exec":
        return ["RUN " + exec_form(draw)]
    if kind == "RUN-heredoc":
        return heredoc(draw, draw(st.sampled_from(["RUN @@", "RUN cat @@ > /x", "RUN @@ sh", "RUN python3 @@"])))
    if kind == "RUN-mount":
        options = draw(st.sampled_from([
            "type=bind,source=dir,target=/m", "type=cache,target=/root/.cache", "type=tmpfs,target=/t",
            "type=secret,id=s", "type=ssh", "type=bind,from=%s,target=/m" % (stages[0] if stages else "x"),
            "type=bind,source=../..,target=/m", "target", "type=weird,target=/w", "",
        ]))
        return ["RUN --mount=%s %s" % (options, draw(plain_word))]
    if kind in ("CMD", "ENTRYPOINT"):
        return ["%s %s" % (kind, exec_form(draw) if draw(st.booleans()) else word())]
    if kind == "ENV":
        return ["ENV " + kv(draw)]
    if kind == "ENV-legacy":
        return ["ENV %s %s" % (draw(var_name), word())]
    if kind == "LABEL":
        return ["LABEL " + kv(draw)]
    if kind == "ARG":
        name = draw(var_name)
        return ["ARG %s" % name if draw(st.booleans()) else "ARG %s=%s" % (name, word())]
    if kind == "WORKDIR":
        return ["WORKDIR " + draw(st.sampled_from(["/app", "rel", "/a/../b", "$HOME/x", "."]) | value_word())]
    if kind == "USER":
        return ["USER " + draw(st.sampled_from(["root", "1000", "1000:1000", "app", "$U"]) | value_word())]
    if kind in ("COPY", "ADD"):
        flags = draw(st.lists(st.sampled_from([
            "--chown=1000:1000", "--chown=app", "--chmod=755", "--chmod=u+x", "--link", "--parents",
            "--exclude=*.txt", "--checksum=sha256:00", "--unpack=false", "--keep-git-dir", "--bogus=1",
        ]), max_size=2))
        sources = draw(st.lists(st.sampled_from([
            "a.txt", "b.txt", "dir", "dir/", "dir/*", "*.txt", "link", "missing", "../a.txt", "/a.txt",
            "ignored.key", ".", "app/./main.py", "[ab].txt", "https://example.invalid/x.tar.gz",
            "git@example.invalid:x/y.git",
        ]) | value_word(), min_size=1, max_size=3))
        dest = draw(st.sampled_from(["/dst/", "/dst", "rel/", ".", "/tmp/x", "/"]) | value_word())
        if draw(st.integers(0, 6)) == 0:
            import json

            return ["%s %s%s" % (kind, " ".join(flags) + " " if flags else "", json.dumps(sources + [dest]))]
        return ["%s %s" % (kind, " ".join(flags + sources + [dest]))]
    if kind == "COPY-from":
        source = draw(st.sampled_from(stages + ["0", "1", "busybox", "nosuch"]) if stages else st.just("busybox"))
        return ["COPY --from=%s %s /dst/" % (source, draw(st.sampled_from(["/etc/passwd", "/bin/*", "/", "/x y"])))]
    if kind == "COPY-heredoc":
        return heredoc(draw, draw(st.sampled_from(["COPY @@ /dst/", "COPY @@ /dst/file", "ADD @@ rel"])))
    if kind == "EXPOSE":
        return ["EXPOSE " + draw(st.sampled_from(["80", "80/udp", "8000-8010", "$P", "x"]) | value_word())]
    if kind == "VOLUME":
        return ["VOLUME " + draw(st.sampled_from(['["/data"]', "/data /logs", '[]', '""']) | value_word())]
    if kind == "SHELL":
        return ["SHELL " + exec_form(draw)]
    if kind == "STOPSIGNAL":
        return ["STOPSIGNAL " + draw(st.sampled_from(["SIGTERM", "9", "$SIG"]) | value_word())]
    if kind == "HEALTHCHECK":
        return ["HEALTHCHECK " + draw(st.sampled_from([
            "NONE", "CMD curl -f http://localhost/", "--interval=5s CMD true", 'CMD ["true"]', "--bad CMD x", "CMD",
        ]))]
    if kind == "ONBUILD":
        inner = draw(instruction(stages))
        return ["ONBUILD " + inner[0]] + inner[1:]
    if kind == "MAINTAINER":
        return ["MAINTAINER " + word()]
    if kind == "UNKNOWN":
        return [draw(st.sampled_from(["FOO bar", "RUNN x", "%post", "bootstrap: docker", "{{ x }}", "COPY", "ENV"]))]
    if kind == "comment":
        return ["# " + draw(nasty_text | token)]
    return [""]


def continue_lines(draw, lines, escape):
    """Break some instructions across continuation lines (with comments and blanks in between)."""
    out = []
    for line in lines:
        if len(line) > 8 and " " in line[1:] and not line.startswith("#") and draw(st.integers(0, 4)) == 0:
            cut = line.index(" ", 1) + 1
            middle = draw(st.sampled_from(["", "# inside\n", "\n", "   \n"]))
            out.append(line[:cut] + escape + ("  " if draw(st.booleans()) else "") + "\n" + middle + "  " + line[cut:])
        else:
            out.append(line)
    return out


@st.composite
def dockerfiles(draw):
    """A Dockerfile from the grammar: directives, global ARGs, stages of instructions."""
    escape = draw(st.sampled_from(["\\", "\\", "\\", "`"]))
    lines = []
    if draw(st.booleans()):
        lines.append("# syntax=docker/dockerfile:1")
    if escape != "\\" or draw(st.integers(0, 9)) == 0:
        lines.append("# escape=%s" % escape)
    for _ in range(draw(st.integers(0, 2))):
        lines.append("ARG %s=%s" % (draw(var_name), draw(value_word())))
    stages = []
    for n in range(draw(st.integers(1, 3))):
        base = draw(st.sampled_from(["busybox", "127.0.0.1:5000/busybox:latest", "scratch", "ubuntu:22.04",
                                     "${BASE:-busybox}", "$BASE"] + stages))
        name = draw(st.sampled_from(["", "", "build", "stage-%d" % n, "Mixed.Case_1", "b", ""]))
        platform = draw(st.sampled_from(["", "--platform=linux/amd64 ", "--platform=$BUILDPLATFORM "]))
        lines.append("FROM %s%s%s" % (platform, base, " AS " + name if name else ""))
        if name:
            stages.append(name.lower())
        for _ in range(draw(st.integers(0, 8))):
            lines.extend(draw(instruction(stages)))
    lines = continue_lines(draw, lines, escape)
    newline = "\r\n" if draw(st.integers(0, 9)) == 0 else "\n"
    return newline.join(lines) + (newline if draw(st.integers(0, 5)) else "")


# ------------------------------------------------------------------------------------------------------
# Strategies: mutations (of the corpus, and of generated files: near-valid inputs)
# ------------------------------------------------------------------------------------------------------

INSERTS = [
    b"\\", b"\\\n", b"`", b"'", b'"', b"<<EOF", b"<<EOF\n", b"<<-'X'\n", b'<<"EOF"', b"\nEOF\n", b"${", b"$(",
    b"}", b"[", b"]", b"\r", b"\t", b"#", b"\n", b"\n\n", b"%post\n", b"\nbootstrap: docker\n", b"{{ x }}",
    b"\xff", b"\x00", b"\xe2\x80\xa8", b"\xc2\x85", b"\xef\xbb\xbf", b"\n# escape=`\n", b" AS x", b" --from=0 ",
    b"\nFROM scratch\n", b"\nONBUILD ", b"=", b" ", b"\xc3", b"\nCOPY <<A <<B /d/\n",
]
mutation = st.one_of(
    st.tuples(st.just("delete"), st.floats(0, 1)),
    st.tuples(st.just("duplicate"), st.floats(0, 1)),
    st.tuples(st.just("swap"), st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(INSERTS)),
    st.tuples(st.just("heredoc"), st.floats(0, 1), st.sampled_from([b"EOF", b"X", b"'EOF'", b"-EOF"]), st.booleans()),
)


def _index(fraction: float, size: int) -> int:
    return min(int(fraction * size), max(size - 1, 0))


def mutate(data: bytes, ops) -> bytes:
    for op in ops:
        lines = data.split(b"\n")
        kind = op[0]
        if kind == "delete" and lines:
            del lines[_index(op[1], len(lines))]
            data = b"\n".join(lines)
        elif kind == "duplicate" and lines:
            i = _index(op[1], len(lines))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif kind == "swap" and lines:
            i, j = _index(op[1], len(lines)), _index(op[2], len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == "truncate":
            data = data[: int(op[1] * len(data))]
        elif kind == "flip" and data:
            i = _index(op[1], len(data))
            data = data[:i] + bytes([data[i] ^ (1 << op[2])]) + data[i + 1:]
        elif kind == "insert":
            i = int(op[1] * len(data))
            data = data[:i] + op[2] + data[i:]
        elif kind == "heredoc" and lines:
            # A heredoc marker at the end of a random line, terminated further down or not at all.
            i = _index(op[1], len(lines))
            name = op[2].strip(b"'-")
            lines[i] = lines[i] + b" <<" + op[2]
            if op[3]:
                lines.insert(min(len(lines), i + 3), name)
            data = b"\n".join(lines)
    return data


@st.composite
def corpus_mutants(draw):
    name = draw(st.sampled_from(sorted(CORPUS_BYTES)))
    ops = draw(st.lists(mutation, min_size=1, max_size=4))
    note("corpus file %s, mutations %r" % (name, ops))
    return mutate(CORPUS_BYTES[name], ops)


@st.composite
def near_valid(draw):
    text = draw(dockerfiles())
    ops = draw(st.lists(mutation, min_size=1, max_size=2))
    note("mutations %r of:\n%s" % (ops, text))
    return mutate(text.encode("utf-8"), ops)


# ------------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------------


def line_count(text: str) -> int:
    return text.count("\n") + 1


def check_convert(raw: bytes, context: Path) -> None:
    """The API property: a result, or a D2SError inside the input; same bytes twice; a sound .def."""
    try:
        text = decode_source(raw, "Dockerfile")
    except D2SError as err:
        assert 1 <= err.line <= raw.count(b"\n") + 1 and err.column >= 1, err
        return
    outcomes = []
    for _ in range(2):
        try:
            result = convert(text, context=str(context), path="Dockerfile")
        except D2SError as err:
            assert 1 <= err.line <= line_count(text), "error line %d outside the input (%d lines): %s" % (
                err.line, line_count(text), err)
            assert err.column >= 1, err
            assert "\n" not in str(err), "a multi-line error message: %r" % str(err)
            outcomes.append(("error", str(err)))
            continue
        for d in result.diagnostics:
            assert 1 <= d.line <= line_count(text), d
            assert "\n" not in d.format(), d
        # D2S024 names the ARGs whose {{ NAME }} d2s writes on purpose in a From: line.
        templates = [name for d in result.diagnostics if d.code == "D2S024"
                     for name in re.match(r"the base image needs ARG ([\w, ]+), which", d.message).group(1).split(", ")]
        problems = def_problems(result.definition, templates)
        assert not problems, "the .def would not read as written: %s\n%s" % (problems, result.definition)
        assert "\0" not in result.definition
        outcomes.append(("ok", result.definition, [d.format() for d in result.diagnostics]))
    assert outcomes[0] == outcomes[1], "two conversions of the same input differ"


_counter = [0]


def check_cli(raw: bytes, context: Path, scratch: Path, extra=()) -> None:
    """The CLI property, in-process: exit 0, 1 or 2, no traceback, one-line errors, nothing written on error."""
    _counter[0] += 1
    folder = scratch / ("case-%d" % _counter[0])
    folder.mkdir()
    try:
        source = folder / "Dockerfile"
        source.write_bytes(raw)
        results = []
        for n in range(2):
            out = folder / ("out%d.def" % n)
            stdout, stderr = io.StringIO(), io.StringIO()
            with redirect_stdout(stdout), redirect_stderr(stderr):
                status = main(["convert", "--offline", "--context", str(context)] + list(extra)
                              + [str(source), str(out)])
            err = stderr.getvalue()
            assert status in (0, 1, 2), (status, err)
            assert "Traceback" not in err, err
            if status == 2:
                last = err.rstrip("\n").split("\n")[-1]
                assert re.match(r"^%s:\d+:\d+: error: " % re.escape(str(source)), last), err
                assert not out.exists()
            if status == 0:
                assert out.exists()
            results.append((status, out.read_bytes() if out.exists() else None, err.replace("out1", "out0")))
        assert results[0] == results[1], "two runs of the CLI on the same input differ"
        assert not [p for p in os.listdir(str(folder)) if p.startswith(".d2s-")]
    finally:
        shutil.rmtree(str(folder), ignore_errors=True)


@given(dockerfiles())
def test_generated_dockerfiles_convert_or_fail_cleanly(context, text):
    check_convert(text.encode("utf-8"), context)


@given(near_valid())
def test_near_valid_dockerfiles_convert_or_fail_cleanly(context, raw):
    check_convert(raw, context)


@given(corpus_mutants())
def test_mutated_corpus_converts_or_fails_cleanly(context, raw):
    check_convert(raw, context)


@given(st.one_of(corpus_mutants(), near_valid()), st.sampled_from([(), ("--strict",), ("--target", "build"),
                                                                   ("--build-arg", "BASE=busybox")]))
def test_cli_never_crashes(context, scratch, raw, extra):
    check_cli(raw, context, scratch, extra)


# -- Injection: values from a Dockerfile (and --build-arg) -------------------------------------------------

# Printable, tabs, the def-file tokens, non-ASCII (private-use characters included), line separators.
value_text = st.lists(
    st.sampled_from(TOKENS + ["%labels", "Bootstrap: localimage", "ü", "\u2028", "\x85", "\r", "\x0b", "\ue000"])
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\0"), max_size=6),
    max_size=5,
).map("".join)
multiline_text = st.lists(value_text, min_size=1, max_size=4).map("\n".join)


@given(st.lists(value_text, min_size=1, max_size=3), st.lists(multiline_text, max_size=2))
def test_values_cannot_inject(tmp_path_factory, values, multiline):
    """Any value: the .def has the structure of a benign twin, and the host reads each value back exactly."""
    root = Path(tempfile.mkdtemp(dir=str(tmp_path_factory.getbasetemp())))
    try:
        case = adversarial(values, multiline)
        twin = benign_twin(values, multiline)
        (root / "twin").mkdir()
        definition = convert(case.dockerfile, context=str(make_context(root, case)), build_args=case.build_args,
                             ).definition
        plain = convert(twin.dockerfile, context=str(make_context(root / "twin", twin)),
                        build_args=twin.build_args).definition
        assert def_problems(definition) == []
        assert structure(definition) == structure(plain)
        environment, post_env, labels = host_view(definition, root)
        for name, value in case.env.items():
            assert environment.get(name) == value, name
            assert post_env.get(name) == value, name
        for name, value in case.args.items():
            assert post_env.get(name) == value, name
        for key, value in case.labels.items():
            assert labels.get(key) == value, key
    finally:
        shutil.rmtree(str(root), ignore_errors=True)


# -- The real entry point, in subprocesses ------------------------------------------------------------------

NASTY_INPUTS = {
    "empty": b"",
    "binary": b"\x7fELF\x02\x01\x01\x00\x00\x00",
    "latin1": b"FROM busybox\nENV A=caf\xe9\n",
    "nul": b"FROM busybox\nRUN echo \x00\n",
    "bom-crlf": b"\xef\xbb\xbfFROM busybox\r\nRUN echo hi\r\n",
    "unterminated-heredoc": b"FROM busybox\nRUN <<EOF\necho\n",
    "unterminated-quote": b"FROM busybox\nENV A=\"x\n",
    "no-from": b"RUN echo hi\n",
    "only-comments": b"# just a comment\n",
    "continuation-at-eof": b"FROM busybox\nRUN echo \\",
    "bad-expansion": b"FROM busybox\nENV A=${}\n",
    "deep-json": b"FROM busybox\nCMD " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "long-line": b"FROM busybox\nRUN " + b"x" * 70000 + b"\n",
    "def-syntax": b"FROM busybox\n%post\nbootstrap: docker\n{{ x }}\n",
}


@pytest.mark.parametrize("name", sorted(NASTY_INPUTS))
def test_real_entry_point_never_shows_a_traceback(tmp_path, name):
    source = tmp_path / "Dockerfile"
    source.write_bytes(NASTY_INPUTS[name])
    done = subprocess.run(d2s_command() + ["convert", "--offline", str(source), str(tmp_path / "out.def")],
                          capture_output=True, timeout=120, cwd=str(tmp_path))
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 1, 2), (done.returncode, err)
    assert "Traceback" not in err, err
    if done.returncode == 2:
        assert re.match(r"^%s:\d+:\d+: error: " % re.escape(str(source)), err.split("\n")[-2]), err


@pytest.mark.parametrize("argv", [
    ["convert", "--format", "xml", "Dockerfile"],
    ["convert", "--build-arg", "=x", "Dockerfile"],
    ["convert", "--nosuch"],
    ["nosuchcommand"],
    ["convert", "--check", "Dockerfile"],
    ["convert", "missing-file"],
    ["convert", "Dockerfile", "/nonexistent-dir/out.def"],
    ["convert", "--context", "/nonexistent-dir", "Dockerfile"],
    ["to-dockerfile", "missing.def"],
    ["build", "--engine", "/nonexistent/apptainer", "Dockerfile"],
])
def test_real_entry_point_usage_errors(tmp_path, argv):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hi\n")
    done = subprocess.run(d2s_command() + argv, capture_output=True, timeout=120, cwd=str(tmp_path))
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert done.returncode in (1, 2, 127), (done.returncode, err)


# ------------------------------------------------------------------------------------------------------
# Definition files: dockerfile2def.deffile.parse_definition and `d2s check`
# ------------------------------------------------------------------------------------------------------


def _deffile_api():
    from dockerfile2def.deffile import parse_definition

    return parse_definition


try:
    _deffile_api()
    NO_DEFFILE = ""
except ImportError as _err:  # the def parser has not landed in this checkout
    NO_DEFFILE = "dockerfile2def.deffile is not there yet: %s" % _err
needs_deffile = pytest.mark.skipif(bool(NO_DEFFILE), reason=NO_DEFFILE or "-")


SECTIONS = ["%post", "%setup", "%files", "%files from build", "%environment", "%runscript", "%startscript",
            "%labels", "%test", "%help", "%arguments", "%pre", "%apprun foo", "%appinstall", "%POST", "%bogus",
            "%post -c /bin/bash", "  %post"]
HEADER_LINES = ["Bootstrap: docker", "From: busybox", "Stage: build", "Bootstrap: scratch", "bootstrap: Docker",
                "From: ubuntu:{{ TAG }}", "Includecmd: yes", "Nokey: x", "no colon", "# comment", "From: a # b",
                "OtherURL1: x", "Fingerprints: A,B", "Bootstrap:", "From: x \\"]


@st.composite
def definitions(draw):
    """A definition file from its grammar (valid and near-valid)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        out.extend(draw(st.lists(st.sampled_from(HEADER_LINES), min_size=0, max_size=4)))
        if draw(st.booleans()):
            out.append("")
        for _ in range(draw(st.integers(0, 4))):
            out.append(draw(st.sampled_from(SECTIONS)))
            for _ in range(draw(st.integers(0, 4))):
                line = draw(st.sampled_from([
                    "    echo hi", "    export A='x y'", "    a.txt /opt/", '    "sp ace" /x', "    KEY value",
                    "    X=1", "    {{ X }}", "    # {{ X }}", "    %wheel ALL", "bootstrap: docker", "    exit 1",
                ]) | nasty_text.map(lambda t: "    " + t))
                out.append(line)
    return "\n".join(out) + "\n"


def _generated_defs():
    """Real .def files: the fixtures' expected outputs and the corpus converted (when the parser works)."""
    found = sorted((Path(__file__).resolve().parents[1] / "fixtures").glob("**/*.def"))
    texts = [p.read_text() for p in found]
    return texts


DEF_SAMPLES = _generated_defs()


@st.composite
def def_mutants(draw):
    assume(DEF_SAMPLES)
    base = draw(st.sampled_from(DEF_SAMPLES))
    return mutate(base.encode("utf-8"), draw(st.lists(mutation, min_size=1, max_size=4)))


def check_definition(raw: bytes, parse_definition) -> None:
    try:
        text = decode_source(raw, "app.def")
    except D2SError:
        return
    outcomes = []
    for _ in range(2):
        try:
            parsed = parse_definition(text)
        except D2SError as err:
            assert 1 <= err.line <= line_count(text) and err.column >= 1, err
            outcomes.append(str(err))
            continue
        outcomes.append(repr(parsed))
    assert outcomes[0] == outcomes[1]


@needs_deffile
@given(definitions() | definitions().map(lambda t: t.encode()).flatmap(
    lambda b: st.lists(mutation, min_size=1, max_size=2).map(lambda ops: mutate(b, ops).decode("utf-8", "replace"))))
def test_generated_definitions_parse_or_fail_cleanly(text):
    check_definition(text.encode("utf-8"), _deffile_api())


@needs_deffile
@given(def_mutants())
def test_mutated_definitions_parse_or_fail_cleanly(raw):
    check_definition(raw, _deffile_api())


@needs_deffile
@given(definitions().map(str.encode) | def_mutants(), st.sampled_from([(), ("--strict",), ("--format", "json")]))
def test_check_never_crashes(scratch, raw, extra):
    _counter[0] += 1
    path = scratch / ("check-%d.def" % _counter[0])
    path.write_bytes(raw)
    try:
        results = []
        for _ in range(2):
            stdout, stderr = io.StringIO(), io.StringIO()
            with redirect_stdout(stdout), redirect_stderr(stderr):
                status = main(["check"] + list(extra) + [str(path)])
            err = stderr.getvalue()
            assert status in (0, 1, 2), (status, err)
            assert "Traceback" not in err + stdout.getvalue()
            results.append((status, stdout.getvalue(), err))
        assert results[0] == results[1]
        assert path.read_bytes() == raw  # check without --fix never writes
    finally:
        path.unlink()
