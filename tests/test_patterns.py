"""dockerfile2def.patterns: Go's filepath.Match and moby/patternmatcher (.dockerignore).

Tables come from Go's path/filepath match tests and moby/patternmatcher's tests
(TestMatch, TestMatches, ignorefile's TestReadAll), plus facts read in their sources."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockerfile2def import patterns
from dockerfile2def.patterns import (IgnoreMatcher, PatternError, Rule, clean, find_ignore_file, has_wildcards,
                                     match, read_ignore_file, split_wildcards)

# -- filepath.Match -------------------------------------------------------------------------------

BAD = "bad"
MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", BAD),
    ("[-]", "-", BAD),
    ("[x-]", "x", BAD),
    ("[x-]", "-", BAD),
    ("[x-]", "z", BAD),
    ("[-x]", "x", BAD),
    ("[-x]", "-", BAD),
    ("[-x]", "a", BAD),
    ("\\", "a", BAD),
    ("[a-b-c]", "a", BAD),
    ("[", "a", BAD),
    ("[^", "a", BAD),
    ("[^bc", "a", BAD),
    ("a[", "a", BAD),
    ("a[", "ab", BAD),
    ("a[", "x", BAD),
    ("a/b[", "a/c", BAD),  # reported even when an earlier part did not match
    ("*x", "xxx", True),
    # more facts of Go's implementation
    ("", "", True),
    ("", "a", False),
    ("*", "", True),
    ("*", "a/b", False),
    ("**", "a/b", False),  # no ** in filepath.Match
    ("?", "", False),
    ("[!a]", "!", True),  # only ^ negates; ! is an ordinary class member
    ("[!a]", "b", False),
    ("a[/]b", "a/b", True),  # a class can match the separator
    ("a[^x]b", "a/b", True),
    ("arr[[]0].txt", "arr[0].txt", True),  # Docker's documented way to match a literal [
    ("*.txt", ".hidden.txt", True),  # no special case for dot files
    ("a\\[b", "a[b", True),
    ("[a\\]]", "]", True),
    ("[*]", "*", True),  # * inside a class is a member
    ("x*[*]", "xab*", True),
    # Go commits each chunk at its leftmost place after a '*': with a class that matches '/',
    # that can miss a match a backtracking matcher would find. Docker has the same answer.
    ("*a[a/]*b", "aa/b", False),
    ("*a[a/]*b", "a/b", True),
]


@pytest.mark.parametrize("pattern, name, expected", MATCH)
def test_match(pattern, name, expected):
    if expected is BAD:
        with pytest.raises(PatternError):
            match(pattern, name)
    else:
        assert match(pattern, name) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab*?[]^-\\/", max_size=8), st.text(alphabet="ab/-]^", max_size=8))
def test_match_never_crashes(pattern, name):
    try:
        result = match(pattern, name)
    except PatternError:
        return
    assert result in (True, False)


def _simple_glob_regex(pattern):
    out = []
    for c in pattern:
        out.append({"*": "[^/]*", "?": "[^/]"}.get(c) or re.escape(c))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab*?/", max_size=7), st.text(alphabet="ab/", max_size=8))
def test_match_agrees_with_a_regex_without_classes(pattern, name):
    # Without classes Go's leftmost-commit algorithm is exact, so a full regex is a fair model.
    assert match(pattern, name) == bool(re.fullmatch(_simple_glob_regex(pattern), name))


def test_match_is_not_exponential():
    start = time.perf_counter()
    assert not match("*a*a*a*a*a*a*a*a*b", "a" * 2000)
    assert time.perf_counter() - start < 5


# -- helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, expected", [
    ("a*b", True), ("a?b", True), ("a[b", True), ("plain/path.txt", False),
    ("a\\*b", False), ("a\\[b", False), ("a\\\\*b", True), ("", False), ("x]", False),
])
def test_has_wildcards(path, expected):
    assert has_wildcards(path) is expected


@pytest.mark.parametrize("path, expected", [
    ("a/b*/c", ("a", "b*/c")),
    ("*.txt", ("", "*.txt")),
    ("a/b", ("a/b", "")),
    ("a/b/[xy]", ("a/b", "[xy]")),
    ("a\\*/b*", ("a\\*", "b*")),
])
def test_split_wildcards(path, expected):
    assert split_wildcards(path) == expected


@pytest.mark.parametrize("path, expected", [
    ("", "."), (".", "."), ("/", "/"), ("//a", "/a"), ("a//b/", "a/b"), ("a/./b", "a/b"),
    ("a/../../b", "../b"), ("/../a", "/a"), ("a/b/..", "a"),
])
def test_clean(path, expected):
    assert clean(path) == expected


# -- patternmatcher ------------------------------------------------------------------------------

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"
PM = [  # patternmatcher TestMatches: exact = the pattern itself matches; inexact = via a parent
    ("**", "file", EXACT),
    ("**", "file/", EXACT),
    ("**/", "file", EXACT),
    ("**/", "file/", EXACT),
    ("**", "/", EXACT),
    ("**/", "/", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT),
    ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT),
    ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT),
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL),
    ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT),
    (".*", "foo", FAIL),
    ("abc.def", "abcdef", FAIL),
    ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
    # patternmatcher's own quirks, from its compile()
    ("**foo", "xfoo", EXACT),  # a suffix match: no folder boundary needed
    ("**foo", "a/bfoo", EXACT),
    ("**/foo", "xfoo", FAIL),
    ("foo**", "foobar/x", EXACT),  # a prefix match
    ("a**b", "ab", EXACT),  # in the middle, ** is (.*/)?
    ("a**b", "ax/b", EXACT),
    ("a**b", "axb", FAIL),
    ("file\\d", "file1", EXACT),  # an escape goes into a Go regexp: \d is a digit there
    ("file\\d", "filed", FAIL),
    ("a^b", "a^b", EXACT),  # no regexp character: an exact comparison
    ("a^b*", "a^bc", FAIL),  # in a regexp, an unescaped ^ is an anchor
    ("[*]", "]", EXACT),  # * inside a class becomes [^/]*, which closes the class early
    ("[*]", "*", FAIL),
]


def _rule(pattern):
    return IgnoreMatcher([pattern]).rules[0]


@pytest.mark.parametrize("pattern, path, kind", PM)
def test_pattern_exact(pattern, path, kind):
    assert _rule(pattern).match(path) is (kind == EXACT)


@pytest.mark.parametrize("pattern, path, kind", [case for case in PM if case[1] != "/"])
def test_pattern_or_parents(pattern, path, kind):
    # ("**", "/") is left out: "/" is no context path, and matches() never leaves out the root.
    assert IgnoreMatcher([pattern]).matches(path) is (kind != FAIL)


@pytest.mark.parametrize("pattern, kind", [
    ("*", "regexp"), ("file*", "regexp"), ("*file", "regexp"), ("a*/b", "regexp"), ("**", "suffix"),
    ("**/**", "regexp"), ("dir/**", "prefix"), ("**/dir", "suffix"), ("**/dir2/*", "regexp"),
    ("**/dir2/**", "regexp"), ("**file", "suffix"), ("**/file*txt", "regexp"), ("**/**/*.txt", "regexp"),
    ("a[b-d]e", "regexp"), (".*", "regexp"), ("abc", "exact"), ("a.b", "exact"), ("a\\.b", "regexp"),
])
def test_match_kind(pattern, kind):
    assert _rule(pattern).kind == kind


MULTI = [  # (patterns, path, ignored)
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),  # the last matching rule wins
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs", "!docs/README.md"], "docs", True),
    (["*.log", "!keep.log"], "keep.log", False),
    (["*.log", "!keep.log"], "x.log", True),
    (["*.log", "!keep.log"], "sub/x.log", False),  # *.log is top-level only
    (["**/*.log", "!keep.log"], "sub/keep.log", True),
    (["secret/"], "secret/key", True),
    (["*"], "a/b/c", True),  # a parent folder matches
    (["*/b"], "a/b/c", True),
    (["a/b"], "a", False),
    ([], "anything", False),
    (["*"], ".", False),  # the root itself is never left out
    # BuildKit walks top-down with MatchesUsingParentResults: a rule skipped for the parent is
    # only tried on the child itself. (MatchesOrParentMatches would say True here.)
    (["x", "!x/y", "x"], "x/y", False),
    (["x", "!x/y", "x"], "x/z", True),
]


@pytest.mark.parametrize("rules, path, expected", MULTI)
def test_ignore_matcher(rules, path, expected):
    assert IgnoreMatcher(rules).matches(path) is expected


def test_match_entry_carries_parent_results():
    matcher = IgnoreMatcher(["docs", "!docs/keep/*.md"])
    docs, info = matcher.match_entry("docs", None)
    assert docs is True and info == (True, False)
    keep, keep_info = matcher.match_entry("docs/keep", info)
    assert keep is True
    assert matcher.match_entry("docs/keep/a.md", keep_info)[0] is False
    assert matcher.match_entry("docs/keep/a.txt", keep_info)[0] is True
    assert matcher.has_exclusions


def test_ignore_matcher_is_fast_on_pathological_patterns():
    rules = ["**/**/**/**/**/**/**/x", "*a*a*a*a*a*a*a*a*b", "**/*a*a*a*b/**/c"]
    matcher = IgnoreMatcher(rules)
    path = "/".join(["a" * 20] * 40)
    start = time.perf_counter()
    assert matcher.matches(path) is False
    assert matcher.matches("a" * 3000) is False
    assert time.perf_counter() - start < 5


_glob_units = st.sampled_from(["a", "b", "/", "*", "**", "**/", "?", "[ab]", "[^a]", "."])


@settings(max_examples=300, deadline=None)
@given(st.lists(_glob_units, min_size=1, max_size=6).map("".join), st.text(alphabet="ab/.\n", max_size=10))
def test_regex_and_automaton_agree(pattern, path):
    try:
        rules = IgnoreMatcher([pattern]).rules
    except PatternError:
        return
    if not rules or rules[0].kind != "regexp":
        return
    program = rules[0]._program
    fast = program.search(path)
    saved = program.regex
    program.regex = None  # force the automaton
    try:
        assert program.search(path) == fast
    finally:
        program.regex = saved


# -- reading .dockerignore -----------------------------------------------------------------------

def _patterns(rules):
    return [("!" if r.exclusion else "") + r.pattern for r in rules]


def test_read_ignore_file_like_readall():
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n"
    assert _patterns(read_ignore_file(content)) == ["test1", "test2", "a/file/here", "lastfile",
                                                    "!inverted/abs/path"]


@pytest.mark.parametrize("content, expected", [
    ("  spaced  \n", ["spaced"]),
    (" # not a comment\n", ["# not a comment"]),  # only '#' in column 1 starts a comment
    ("#comment\n#  also\nx\n", ["x"]),
    ("\ufeffbom\n", ["bom"]),
    ("crlf\r\nnext\r\n", ["crlf", "next"]),
    ("a/../b\n./c/\n", ["b", "c"]),
    ("a//b///\n", ["a/b"]),
    (".\n./\n!.\n", []),  # '.' matches nothing: dropped
    ("/\n", ["/"]),
    ("!/x\n", ["!x"]),
    ("! x \n", ["!x"]),
    ("**/*.tmp\nsecret/\n", ["**/*.tmp", "secret"]),
    ("/!foo\n", ["!foo"]),  # the leading / goes first, then patternmatcher sees the '!'
    ("../outside\n", ["../outside"]),
    ("\n\n   \n\t\n", []),
])
def test_read_ignore_file_lines(content, expected):
    assert _patterns(read_ignore_file(content)) == expected


def test_read_ignore_file_keeps_line_numbers():
    rules = read_ignore_file("# c\n\na\n!b\n")
    assert [(r.pattern, r.exclusion, r.line) for r in rules] == [("a", False, 3), ("b", True, 4)]


@pytest.mark.parametrize("content, line, text", [
    ("a\n!\n", 2, 'illegal exclusion pattern: "!"'),
    ("a\n!   \n", 2, 'illegal exclusion pattern: "!"'),
    ("ok\n\n[\n", 3, "invalid pattern '['"),
    ("x[a-]y\n", 1, "invalid pattern"),
    ("foo\\\n", 1, "invalid pattern"),
    ("file\\x41\n", 1, "unsupported escape"),
    ("[b-a]\n", 1, "invalid character class range"),
])
def test_read_ignore_file_errors(content, line, text):
    with pytest.raises(PatternError) as info:
        read_ignore_file(content)
    assert info.value.line == line
    assert text in str(info.value)
    assert "line %d" % line in str(info.value)


def test_exclude_strings_go_through_patternmatcher_new():
    matcher = IgnoreMatcher(["  *.txt  ", "", "!keep.txt", "a/../b"])
    assert _patterns(matcher.rules) == ["*.txt", "!keep.txt", "b"]
    assert IgnoreMatcher(["/abs"]).matches("abs") is False  # only .dockerignore drops the leading /
    with pytest.raises(PatternError):
        IgnoreMatcher(["!"])
    assert not IgnoreMatcher([])


def test_rule_repr_and_validation():
    assert repr(Rule("a*", True, 3)) == "Rule('!a*', line=3)"
    with pytest.raises(PatternError):
        Rule("a[", False)


# -- finding the ignore file -----------------------------------------------------------------------

def test_find_ignore_file(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    dockerfile = tmp_path / "build" / "app.Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM x\n")
    assert find_ignore_file(str(context), str(dockerfile)) is None
    (context / ".dockerignore").write_text("a\n")
    assert find_ignore_file(str(context), str(dockerfile)) == str(context / ".dockerignore")
    specific = tmp_path / "build" / "app.Dockerfile.dockerignore"
    specific.write_text("b\n")
    assert find_ignore_file(str(context), str(dockerfile)) == str(specific)
    assert find_ignore_file(str(context), "-") == str(context / ".dockerignore")
    assert find_ignore_file(str(context), None) == str(context / ".dockerignore")
    assert find_ignore_file(None, None) is None
    (context / "sub.dockerignore").mkdir()  # a folder is not an ignore file
    assert find_ignore_file(str(context), str(context / "sub")) == str(context / ".dockerignore")


def test_module_exports():
    for name in patterns.__all__:
        assert hasattr(patterns, name)
