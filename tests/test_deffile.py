"""The definition-file parser (dockerfile2def/deffile.py, grammar/deffile.lark): Apptainer's reading rules.

The expected results are Apptainer 1.4.5's behaviour on the same text, as recorded in the spec digest
(B.1-B.7) and checked against the real binary by tests/integration/test_apptainer_agreement.py.
"""

import subprocess
import sys

import pytest

from dockerfile2def import deffile
from dockerfile2def.deffile import SCANNER_LIMIT, parse_definition

BB = "Bootstrap: docker\nFrom: 127.0.0.1:5000/busybox:latest\n"


def codes(definition):
    return [p.code for p in definition.problems]


# -- the IR ----------------------------------------------------------------------------------------


def test_header_and_sections_with_positions():
    d = parse_definition(BB + "Stage: build\n\n%post -c /bin/bash\n    echo hi\n%labels\n    a b c\n", "x.def")
    assert d.problems == []
    (stage,) = d.stages
    assert [(e.key, e.value, e.line, e.column) for e in stage.entries] == [
        ("bootstrap", "docker", 1, 1), ("from", "127.0.0.1:5000/busybox:latest", 2, 1), ("stage", "build", 3, 1)]
    assert stage.header["from"].value_column == 7
    assert stage.name == "build" and stage.bootstrap.value == "docker"
    post, labels = stage.sections
    assert (post.name, post.kind, post.args, post.line) == ("post", "standard", "-c /bin/bash", 5)
    assert [(b.line, b.text) for b in post.body] == [(6, "    echo hi")]
    assert post.script == "    echo hi\n"
    assert [(l.key, l.value, l.line, l.column) for l in labels.labels] == [("a", "b c", 8, 5)]


def test_header_keys_are_case_insensitive_and_values_trimmed_and_cut_at_hash():
    d = parse_definition("  BOOTSTRAP:docker   # the agent\nfRoM :  img:1 #c\n")
    assert d.problems == []
    header = d.stages[0].header
    assert header["bootstrap"].value == "docker" and header["from"].value == "img:1"
    assert header["from"].comment == "#c"


def test_the_last_header_entry_of_a_key_wins():
    d = parse_definition(BB + "From: other:1\n")
    assert d.stages[0].header["from"].value == "other:1"


def test_header_value_continuation_joins_lines():
    d = parse_definition("Bootstrap: docker\nFrom: 127.0.0.1:5000/busy\\\n  box:lat\\\n  est\n%post\n echo\n")
    assert d.problems == []
    assert d.stages[0].header["from"].value == "127.0.0.1:5000/busybox:latest"
    assert d.stages[0].header["from"].end_line == 4


@pytest.mark.parametrize("text, code, line", [
    (BB + "IncludeCmd yes\n", "D2S201", 3),
    (BB + "Maintainer: me\n", "D2S202", 3),
    (BB + "Target: x\n", "D2S202", 3),  # Apptainer 1.5 only
    (BB + ": x\n", "D2S202", 3),
    (BB + "From1: x\n", "D2S202", 3),
    ("Bootstrap: docker\nFrom: x\\\n# c\nStage: a\n", "D2S214", 3),
    ("Bootstrap: docker\nFrom: x\\\n\nStage: a\n", "D2S214", 3),
    ("Bootstrap: docker\nFrom: x \\\n\n%post\n echo\n", "D2S236", 2),
])
def test_header_problems(text, code, line):
    d = parse_definition(text)
    assert [(p.code, p.line) for p in d.problems] == [(code, line)]


def test_otherurl_with_a_number_is_a_header_keyword():
    assert parse_definition(BB + "OtherURL3: http://x\n").problems == []
    assert codes(parse_definition(BB + "OtherURL: http://x\n")) == ["D2S202"]


def test_byte_order_mark_is_its_own_problem():
    d = parse_definition("\ufeff" + BB)
    assert codes(d) == ["D2S216"]
    assert d.stages[0].bootstrap.value == "docker"


# -- stages ----------------------------------------------------------------------------------------


def test_bootstrap_at_column_zero_starts_a_stage_even_inside_a_script():
    text = BB + "%post\n    cat > /x <<EOF\nbootstrap: true\nEOF\n"
    d = parse_definition(text)
    assert [s.line for s in d.stages] == [1, 5]
    assert d.stages[1].bootstrap.value == "true"
    assert ("D2S201", 6) in [(p.code, p.line) for p in d.problems]  # "EOF" became a header line


def test_indented_bootstrap_does_not_start_a_stage():
    d = parse_definition("  Bootstrap: docker\n  From: x\n")
    assert len(d.stages) == 1 and d.stages[0].bootstrap.value == "docker"


def test_text_before_the_first_bootstrap_is_dropped_when_it_holds_nothing():
    d = parse_definition("# comment\n\n# more\n" + BB)
    assert [s.line for s in d.stages] == [4]


def test_header_lines_above_bootstrap_form_a_stage_of_their_own():
    d = parse_definition("From: x\n" + "Bootstrap: docker\n")
    assert len(d.stages) == 2
    assert d.stages[0].bootstrap is None and d.stages[0].header["from"].value == "x"


def test_a_labels_section_with_only_comments_before_bootstrap_is_an_empty_stage():
    # Apptainer keeps the parsed labels, not the section's text: this stage is empty and skipped.
    d = parse_definition("%labels\n# nothing\n" + BB)
    assert [s.line for s in d.stages] == [3] and d.problems == []


def test_no_stage_at_all():
    assert codes(parse_definition("")) == ["D2S200"]
    assert codes(parse_definition("# only a comment\n")) == ["D2S200"]


def test_a_lone_section_line_first_cannot_be_split():
    assert codes(parse_definition("%post\n")) == ["D2S208"]
    # The first scanner token is trimmed: indentation before the first section line does not matter.
    d = parse_definition("   %post\n    echo hi\n")
    assert d.problems == [] and d.stages[0].sections[0].name == "post"


# -- sections --------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, name, kind, args", [
    ("%post", "post", "standard", None),
    ("%POST", "post", "standard", None),
    ("%%post", "post", "standard", None),
    ("%post ", "post", "standard", ""),
    ("%post  -c /bin/sh", "post", "standard", " -c /bin/sh"),
    ("%files from build", "files", "files", "from build"),
    ("%FILES", "files", "files", None),
    ("%psot", "psot", "invalid", None),
    ("%post\t-c /bin/sh", "post\t-c", "invalid", "/bin/sh"),
    ("%", "", "invalid", None),
])
def test_section_lines(line, name, kind, args):
    d = parse_definition(BB + line + "\n    x\n")
    section = d.stages[0].sections[0]
    assert (section.name, section.kind, section.args) == (name, kind, args)
    assert ("D2S206" in codes(d)) == (kind == "invalid")


def test_an_indented_percent_line_starts_a_section_named_nothing():
    d = parse_definition(BB + "%post\n    echo hi\n    %wheel ALL\n")
    assert [(s.name, s.kind, s.line) for s in d.stages[0].sections] == [("post", "standard", 3), ("", "invalid", 5)]
    assert [(p.code, p.line) for p in d.problems] == [("D2S206", 5)]


def test_app_sections():
    d = parse_definition(BB + "%appinstall foo\n    make\n%apprun foo extra\n    run\n")
    (install, run) = d.stages[0].sections
    assert (install.kind, install.app) == ("app", "foo")
    assert (run.kind, run.app, run.args) == ("app", "foo", "extra")
    assert d.stages[0].post_script() == "    make\n"
    assert codes(parse_definition(BB + "%appinstall\n    x\n")) == ["D2S207"]
    assert codes(parse_definition(BB + "%appinstall \n    x\n")) == ["D2S207"]  # an empty app name
    assert codes(parse_definition(BB + "%APPINSTALL foo\n    x\n")) == ["D2S206"]


def test_duplicate_sections_are_kept_in_order():
    d = parse_definition(BB + "%post\n a\n%runscript\n r\n%post\n b\n")
    assert [s.name for s in d.stages[0].sections] == ["post", "runscript", "post"]
    assert d.stages[0].post_script() == " a\n b\n"


def test_carriage_returns_before_line_breaks_are_dropped():
    d = parse_definition((BB + "%post\n    echo hi\n%labels\n    a b\n").replace("\n", "\r\n"))
    assert d.problems == []
    post, labels = d.stages[0].sections
    assert post.name == "post" and post.body[0].text == "    echo hi"
    assert labels.labels[0].value == "b"


# -- %files, %labels, %arguments -------------------------------------------------------------------


def test_files_lines():
    d = parse_definition(BB + '%files\n    a.txt\n    b c\n    "with space" /opt/x\n    # comment\n'
                         "    'sp ace' /opt/\n    s d extra words\n    \"\"\n")
    entries = d.stages[0].sections[0].files
    assert [(e.src, e.dst, e.line) for e in entries] == [
        ("a.txt", None, 4), ("b", "c", 5), ("with space", "/opt/x", 6),
        ("'sp ace", "' /opt/", 8),  # Apptainer's splitter has no closing single quote
        ("s", "d", 9), ("", None, 10)]
    assert entries[4].extra == 2
    assert entries[2].src_token == '"with space"' and entries[2].dst_column == 18


def test_a_lone_double_quote_in_files():
    assert [(p.code, p.line) for p in parse_definition(BB + '%files\n    "\n').problems] == [("D2S213", 4)]


def test_labels_key_runs_to_the_first_space():
    d = parse_definition(BB + '%labels\n    k\tv x\n    "My Label" v\n    solo\n    # c\n')
    labels = d.stages[0].sections[0].labels
    assert [(l.key, l.value) for l in labels] == [("k\tv", "x"), ('"My', 'Label" v'), ("solo", "")]


def test_arguments_lines():
    d = parse_definition(BB + "%arguments\n    A = 1\n    B=\"x y\"\n    NOEQ\n    =v\n    # c\n")
    args = d.stages[0].sections[0].arguments
    assert [(a.key, a.value) for a in args] == [("A", "1"), ("B", '"x y"'), (None, ""), (None, "")]


# -- templating ------------------------------------------------------------------------------------


def test_placeholders_are_replaced_from_the_stage_arguments():
    d = parse_definition("Bootstrap: docker\nFrom: 127.0.0.1:5000/{{ IMG }}\n%arguments\n    IMG=busybox:1\n"
                         "    N={{ IMG }}-x\n%post\n    echo {{N}}\n")
    assert d.problems == []
    stage = d.stages[0]
    assert stage.templated
    assert stage.header["from"].value == "127.0.0.1:5000/busybox:1"
    assert stage.sections[-1].body[0].text == "    echo busybox:1-x"
    assert [(p.name, p.line, p.defined) for p in stage.placeholders] == [
        ("IMG", 2, True), ("IMG", 5, True), ("N", 7, True)]


@pytest.mark.parametrize("line, replaced", [
    ("echo {{ X }}", True),
    ("echo # {{ X }}", False),  # a comment: left alone
    ("echo #{{ X }}", True),  # '#' directly before: not a comment
    ("echo '#!{{ X }}'", True),  # '#!' is not a comment
    ("echo \"x # {{ X }}\"", False),  # even inside a shell string
])
def test_the_comment_rule_of_templating(line, replaced):
    d = parse_definition(BB + "%post\n    " + line + "\n")
    assert (codes(d) == ["D2S211"]) == replaced


def test_arguments_of_another_stage_do_not_count():
    text = BB + "%arguments\n    V=1\n" + BB + "%post\n    echo {{ V }}\n"
    assert [(p.code, p.line) for p in parse_definition(text).problems] == [("D2S211", 8)]


def test_a_placeholder_may_span_lines():
    d = parse_definition(BB + "%arguments\n    V=1\n%post\n    echo {{\nV }}\n")
    assert d.problems == []
    assert d.stages[0].placeholders[0].name == "V"


# -- the 64 KiB scanner window ---------------------------------------------------------------------


def _labels(size):
    out, left = [], size
    while left:
        take = min(left, 80)
        out.append("k " + "v" * (take - 3) + "\n" if take >= 3 else "\n" * take)
        left -= take
    return "".join(out)


@pytest.mark.parametrize("window, refused", [(SCANNER_LIMIT, False), (SCANNER_LIMIT + 1, True)])
def test_a_section_counted_to_the_end_of_the_next_section_line(window, refused):
    text = "Bootstrap: scratch\n%labels\n" + _labels(window - len("%labels\n%help\n")) + "%help\nhelp\n"
    assert ("D2S215" in codes(parse_definition(text))) == refused


@pytest.mark.parametrize("window, refused", [(SCANNER_LIMIT - 1, False), (SCANNER_LIMIT, True)])
def test_the_last_section_counted_to_the_end_of_the_file(window, refused):
    text = "Bootstrap: scratch\n%labels\n" + _labels(window - len("%labels\n"))
    assert ("D2S215" in codes(parse_definition(text))) == refused


def test_the_window_counts_bytes_and_carriage_returns():
    body = ("k " + "\u00e9" * 38 + "\r\n") * 830  # 80 bytes a line in UTF-8, 42 characters
    text = "Bootstrap: scratch\r\n%labels\r\n" + body
    assert len(text) < SCANNER_LIMIT < len(text.encode("utf-8"))
    assert codes(parse_definition(text)) == ["D2S215"]


# -- robustness and cost ---------------------------------------------------------------------------


def test_any_text_parses_without_raising():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("%:#{} \t\r\n\"'=\\abBfFsx-/") + ["bootstrap:", "%post", "{{ a }}", "\ufeff"])

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(alphabet, max_size=60).map("".join))
    def run(text):
        d = parse_definition(text)
        for problem in d.problems:
            assert problem.code.startswith("D2S2") and problem.line >= 1

    run()


def test_importing_the_module_does_not_build_the_parser():
    code = ("import dockerfile2def.deffile as d, dockerfile2def.check, sys; "
            "assert d._PARSER is None; assert 'lark' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_parser_is_built_once_and_cached_on_disk(tmp_path, monkeypatch):
    from dockerfile2def import generated

    monkeypatch.setenv("D2S_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(deffile, "_PARSER", None)
    monkeypatch.setattr(generated, "_TABLES", {})
    first = deffile.grammar_parser()
    assert deffile.grammar_parser() is first
    assert len(list(tmp_path.glob("tables-deffile-*.marshal"))) == 1
