"""dockerfile2def.expand against BuildKit's lexer semantics (shell/lex.go, envVarTest, wordsTest,
lex_test.go). Expectations come from those sources and the spec digest A.7, not from this code."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockerfile2def import expand
from dockerfile2def.expand import ExpansionError, process_word, process_word_keep_quotes, process_words

# The environment BuildKit's envVarTest runs with.
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}

WORDS = [
    # plain words and quote removal
    ("hello", "hello"),
    ("he'll'", "hell"),
    ("he\\'ll", "he'll"),
    ('"hello"', "hello"),
    ('"he\'ll"', "he'll"),
    ("'hello'", "hello"),
    ("\"''\"", "''"),
    ("'\"hello\"'", '"hello"'),
    ("foo bar", "foo bar"),
    ("abc\\", "abc"),  # a trailing lone escape is dropped
    ("\\'", "'"),
    ("\\\\", "\\"),
    ('"\\\'"', "\\'"),  # inside "...", \ only escapes " $ and itself
    ("'\\\\'", "\\\\"),  # inside '...', nothing is special
    ('"\\\\"', "\\"),
    ("abc\\tdef", "abctdef"),  # outside quotes, the escape char escapes anything and goes
    ('"abc\\tdef"', "abc\\tdef"),
    # $name
    ("$.", "$."),
    ("he$1x", "hex"),  # positional parameters: digits only, unset
    ("he$001x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("'he\\$PWD'", "he\\$PWD"),
    ("'he$PWD'", "he$PWD"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("\"he'$PWD'\"", "he'/home'"),
    ("$PWD$SHELL", "/homebash"),
    ("$@x $*x $#x $?x $-x $$x $!x $0x", "x x x x x x x x"),  # one special char is a name of its own
    ("$", "$"),
    ("a$", "a$"),
    ("$ x", "$ x"),
    ("$'x'", "$x"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    ("안녕${KOREAN}", "안녕한국어"),
    ('안녕"${KOREAN}"', "안녕한국어"),
    ("$한", ""),  # unicode letters make names
    ("$PWD한", ""),
    # ${name}
    ("\\${}", "${}"),
    ("\\${}aaa", "${}aaa"),
    ("he\\${}", "he${}"),
    ("he\\${}xx", "he${}xx"),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ("${NULL}x", "x"),
    ("${1}${#}${@}", ""),
    # ${v:-w} ${v-w}
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("${XXX:-${PWD:-yyy}}", "/home"),
    ("${NULL:-d}", "d"),
    ("${NULL-d}", ""),
    ("${XXX-d}", "d"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),  # \$ makes the inner $ literal; its } closes the outer
    ("${XXX:-a b}", "a b"),
    ("${XXX:-'a}b'}", "a}b"),  # quotes work inside the word
    ('${XXX:-"a}b"}', "a}b"),
    ("${XXX:-a\\}b}", "a}b"),
    ("${XXX:-}", ""),
    # ${v:+w} ${v+w}
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("${NULL:+w}", ""),
    ("${NULL+w}", "w"),
    ("${XXX+w}", ""),
    # ${v:?m} ${v?m} when they pass
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("${PWD:?msg}", "/home"),
]


@pytest.mark.parametrize("word, expected", WORDS)
def test_process_word(word, expected):
    assert process_word(word, ENV) == expected


def test_process_word_fast_path_returns_the_word():
    word = "/usr/local/bin/app-1.2.3"
    assert process_word(word, {}) is word


# ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}: TestProcessWithMatches in lex_test.go.
PATTERNS = [
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"}, "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"}, "/tmp/bar.txt - /bar.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"}, "/foo/b/c.txt - /foo/c.txt"),
    ("${FOO/$NEEDLE/$REPLACEMENT}", {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),  # the escape stays in the replacement
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
    # shortest / longest, prefix / suffix, the usual shell idioms
    ("${F%.*}", {"F": "archive.tar.gz"}, "archive.tar"),
    ("${F%%.*}", {"F": "archive.tar.gz"}, "archive"),
    ("${F#*.}", {"F": "archive.tar.gz"}, "tar.gz"),
    ("${F##*.}", {"F": "archive.tar.gz"}, "gz"),
    ("${P##*/}", {"P": "/usr/local/bin/tool"}, "tool"),
    ("${P%/*}", {"P": "/usr/local/bin/tool"}, "/usr/local/bin"),
    ("${V#v}", {"V": "v1.2.3"}, "1.2.3"),
    ("${V#x}", {"V": "v1.2.3"}, "v1.2.3"),
    ("${V%?}", {"V": "abc"}, "ab"),
    ("${V%%?}", {"V": "abc"}, "ab"),
    ("${V#???}", {"V": "abc"}, ""),
    ("${V#????}", {"V": "abc"}, "abc"),
    ("${UNSET#x}", {}, ""),
    ("${UNSET%x}", {}, ""),
    ("${V/./-}", {"V": "1.2.3"}, "1-2.3"),
    ("${V//./-}", {"V": "1.2.3"}, "1-2-3"),
    ("${V//[/(}", {"V": "a[b]"}, "a(b]"),  # no bracket classes: [ is a literal
    ("${V/b*/X}", {"V": "abcabc"}, "aX"),  # * is greedy in ${v/p/r}
    ("${V//a?/X}", {"V": "abacad"}, "XXX"),
    ("${V/#a/X}", {"V": "#abc"}, "Xbc"),  # no #/% anchors in ${v/p/r}: "#a" is the pattern
    # ${v//p/r} goes through Go's ReplaceAllString: $0 is the match, $$ a dollar
    ("${V//b/<'$0'>}", {"V": "abc"}, "a<b>c"),
    ("${V//b/'$$'}", {"V": "abc"}, "a$c"),
    ("${V//b/'$1'}", {"V": "abc"}, "ac"),
    ("${V//b/'${0}'}", {"V": "abc"}, "abc"),
    ("${V//b/'${0'}", {"V": "abc"}, "a${0c"),  # malformed: the $ is text
    ("${V//b/\\$0}", {"V": "abc"}, "a\\bc"),  # the kept escape is text, $0 still the match
    ("${V//b/\\$\\$}", {"V": "abc"}, "a\\$\\$c"),  # no $$ pair: the escape sits between
    ("${V/b/'$0'}", {"V": "abc"}, "a$0c"),  # the first-match form inserts the text as it is
    # empty matches in a replace-all (Go semantics)
    ("${V//x*/-}", {"V": "abc"}, "abc"),
    ("${V///-}", {"V": "ab"}, "-a-b-"),
    ("${UNSET///y}", {}, "y"),
    # '*' and '?' do not match a newline (Go regexp '.')
    ("${V##*/}", {"V": "x/y\nz/w"}, "y\nz/w"),
    ("${V%%\n*}", {"V": "first\nsecond"}, "first"),
    ("${V#?}", {"V": "\nab"}, "\nab"),
    # quotes inside a pattern are removed, so their content is pattern text
    ("${V#\"*\"}", {"V": "abc"}, "abc"),
    ("${V##\"*\"}", {"V": "abc"}, ""),
    ("${V#'a'}", {"V": "abc"}, "bc"),
    ("${V#\"#\"x}", {"V": "xa"}, "a"),  # the greedy # is looked for after quote removal
]


@pytest.mark.parametrize("word, env, expected", PATTERNS)
def test_patterns(word, env, expected):
    assert process_word(word, env) == expected


ERRORS = [
    # (word, message, offset)
    ("he'll", "unexpected end of statement while looking for matching single-quote", 2),
    ("he\\\\'ll", "unexpected end of statement while looking for matching single-quote", 4),
    ("'he\\'ll'", "unexpected end of statement while looking for matching single-quote", 7),
    ('xx"abc', "unexpected end of statement while looking for matching double-quote", 2),
    ('"\\"', "unexpected end of statement while looking for matching double-quote", 0),
    ('"abc\\', "unexpected end of statement while looking for matching double-quote", 0),
    ("${", "syntax error: missing '}'", 0),
    ("ab${", "syntax error: missing '}'", 2),
    ("he${PWD", "syntax error: missing '}'", 2),
    ("${}", "syntax error: bad substitution", 0),
    ("${}xx", "syntax error: bad substitution", 0),
    ("he${}", "syntax error: bad substitution", 2),
    ("${:x}", "syntax error: bad substitution", 0),
    ("${{x}}", "syntax error: bad substitution", 0),
    ("he${.}", "unsupported modifier (.) in substitution", 2),
    ("${ }", "unsupported modifier ( ) in substitution", 0),
    ("${a b}", "unsupported modifier ( ) in substitution", 0),
    ("he${XXX:YYY}", "unsupported modifier (:Y) in substitution", 2),
    ("he${PWD:=000}xx", "unsupported modifier (:=) in substitution", 2),
    ("${FOO=aaa}", "unsupported modifier (=) in substitution", 0),
    ("${FOO=:aaa}", "unsupported modifier (=) in substitution", 0),
    ("${FOO=}", "unsupported modifier (=) in substitution", 0),
    ("${FOO:#}", "unsupported modifier (:#) in substitution", 0),
    ("${FOO:##}", "unsupported modifier (:#) in substitution", 0),
    ("${FOO:%}", "unsupported modifier (:%) in substitution", 0),
    ("${FOO:%%}", "unsupported modifier (:%) in substitution", 0),
    ("${FOO:#x", "unsupported modifier (:#) in substitution", 0),  # refused before the word is read
    ("${FOO:}", "syntax error: missing '}'", 0),
    ("${FOO:}y}", "unsupported modifier (:}) in substitution", 0),
    ("${X:-abc", "syntax error: missing '}'", 0),
    ("${X:-\"abc", "syntax error: missing '}'", 0),  # an error at the end becomes the missing }
    ("${X:-'abc", "syntax error: missing '}'", 0),
    ('${X:-"a"}"', "unexpected end of statement while looking for matching double-quote", 9),
    ("he${XXX?}", "XXX: is not allowed to be unset", 2),
    ("he${XXX:?}", "XXX: is not allowed to be unset", 2),
    ("he${NULL:?}", "NULL: is not allowed to be empty", 2),
    ("${XXX?custom $PWD}", "XXX: custom /home", 0),
    ("${NULL:?custom}", "NULL: custom", 0),
    ("pre ${A:-${B:?oops}} post", "B: oops", 9),
    ("${A:-${B:?oops}", "syntax error: missing '}'", 0),
    ("${A:-${B", "syntax error: missing '}'", 0),
    ("${FOO#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'", 0),
    ("ab${FOO%a\\b}", "invalid pattern (a\\b) in substitution: invalid escape '\\b'", 2),
    ("${FOO/\\q/}", "invalid pattern (\\q) in substitution: invalid escape '\\q'", 0),
    ("${FOO//ww}", "syntax error: missing '/' in ${}", 0),
    ("${FOO//}", "syntax error: missing '/' in ${}", 0),
    ("${FOO/a", "syntax error: missing '/' in ${}", 0),
    ("${FOO/a/b", "syntax error: missing '}'", 0),
    ("${FOO#a", "syntax error: missing '}'", 0),
]


@pytest.mark.parametrize("word, message, offset", ERRORS)
def test_errors(word, message, offset):
    with pytest.raises(ExpansionError) as info:
        process_word(word, ENV)
    assert info.value.message == message
    assert str(info.value) == message
    assert info.value.offset == offset
    assert isinstance(info.value, ValueError)


def test_mandatory_messages_expand_variables():
    # TestShellParserMandatoryEnvVars
    no_empty = "${VAR:?message here$ARG}"
    no_unset = "${VAR?message here$ARG}"
    assert process_word(no_empty, {"VAR": "plain", "ARG": "x"}) == "plain"
    for env in ({"VAR": "", "ARG": "x"}, {"ARG": "x"}):
        with pytest.raises(ExpansionError, match="message herex"):
            process_word(no_empty, env)
    assert process_word(no_unset, {"VAR": "plain", "ARG": "x"}) == "plain"
    assert process_word(no_unset, {"VAR": "", "ARG": "x"}) == ""
    with pytest.raises(ExpansionError, match="VAR: message herex"):
        process_word(no_unset, {"ARG": "x"})


def test_platform_release_name():
    # TestProcessWithMatchesPlatform
    release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz"
    env = {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"}
    assert process_word(release, env) == "something-v1.2.3.linux-arm-v7.tar.gz"
    env = dict(env, TARGETARCH="arm64", TARGETVARIANT="")
    assert process_word(release, env) == "something-v1.2.3.linux-arm64.tar.gz"


# -- the escape character can be a backtick ------------------------------------------------------

BACKTICK = [
    ("a`$b", {"b": "x"}, "a$b"),
    ("a\\b", {}, "a\\b"),  # the backslash is an ordinary character
    ("C:\\path\\$X", {"X": "v"}, "C:\\path\\v"),
    ('"a`"b"', {}, 'a"b'),
    ('"a``b"', {}, "a`b"),
    ('"a`xb"', {}, "a`xb"),
    ("x`", {}, "x"),
    ("${X:-a`}b}", {}, "a}b"),
    ("${X#`*}", {"X": "`abc"}, "abc"),  # the kept backtick is a literal to the pattern language
    ("${X#\\*}", {"X": "*ab"}, "ab"),  # the pattern language's own escape is always \
    ("${X/a`/b/-}", {"X": "a`/b"}, "-"),  # the kept backtick is part of the literal pattern
]


@pytest.mark.parametrize("word, env, expected", BACKTICK)
def test_backtick_escape(word, env, expected):
    assert process_word(word, env, "`") == expected


def test_backtick_escape_errors_have_offsets():
    with pytest.raises(ExpansionError) as info:
        process_word("ab${X", {}, "`")
    assert info.value.offset == 2
    with pytest.raises(ExpansionError, match=re.escape("invalid escape '\\' at end of pattern")):
        process_word("${X#a\\}", {"X": "a"}, "`")
    # \ cannot protect the / here: the pattern is a lone backslash
    with pytest.raises(ExpansionError, match=re.escape("invalid pattern (\\) in substitution")):
        process_word("${X/\\//-}", {"X": "a/b"}, "`")


def test_escape_must_be_one_character():
    with pytest.raises(ValueError):
        process_word("$x", {}, "")
    with pytest.raises(ValueError):
        process_word("$x", {}, "ab")


# -- ProcessWords (EXPOSE): wordsTest -----------------------------------------------------------

WORDS_ENV = {"hi": "hi", "space": "abc  def", "leading": "  ab   c", "trailing": "ab   c   "}
SPLIT = [
    ("hello", ["hello"]),
    ("hello${hi}bye", ["hellohibye"]),
    ("hello${space}bye", ["helloabc", "defbye"]),
    ('hello"${space}"bye', ["helloabc  defbye"]),
    ('hello "${space}"bye', ["hello", "abc  defbye"]),
    ("hello${leading}def", ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', ["hello  ab   c", "def"]),
    ('hello"${leading}"', ["hello  ab   c"]),
    ("hello${leading}", ["hello", "ab", "c"]),
    ("hello${trailing}", ["helloab", "c"]),
    ("hello${trailing}d", ["helloab", "c", "d"]),
    ('hello"${trailing}"d', ["helloab   c   d"]),
    ('hel"lo${trailing}"', ["helloab   c   "]),
    ('hello" there  "', ["hello there  "]),
    ("hello there     ", ["hello", "there"]),
    ("hello\\ there", ["hello there"]),
    ('hello\\" there', ['hello"', "there"]),
    ('hello"\\\\there"', ["hello\\there"]),
    ('hello"\\there"', ["hello\\there"]),
    ("hello'\\\\there'", ["hello\\\\there"]),
    ("hello'\\there'", ["hello\\there"]),
    ("hello'$there'", ["hello$there"]),
    ("80/tcp 443/udp", ["80/tcp", "443/udp"]),
    ("  ", []),
    ('""', []),
    ("a '' b", ["a", "b"]),
    ("\t8080\n9090 ", ["8080", "9090"]),
    ("a\u00a0b", ["a", "b"]),  # Go's unicode.IsSpace
    ("a\x1cb", ["a\x1cb"]),  # not a space for Go (Python's str.split would split here)
    ("8${X:-0}80", ["8080"]),  # text before a nested modifier is kept
    ("${X:-a b}", ["a", "b"]),
    ("${X:-'a b'}", ["a", "b"]),  # the modifier's result is expanded text, so it splits
]


@pytest.mark.parametrize("text, expected", SPLIT)
def test_process_words(text, expected):
    assert process_words(text, WORDS_ENV) == expected


def test_process_words_errors():
    with pytest.raises(ExpansionError, match="double-quote"):
        process_words('hello" there', {})
    with pytest.raises(ExpansionError) as info:
        process_words("80 ${PORT:?set it}", {})
    assert info.value.message == "PORT: set it" and info.value.offset == 3


# -- heredoc bodies (SkipProcessQuotes, always a backslash lexer) ---------------------------------

HEREDOCS = [
    ('echo "$FOO" \'$BAR\'', 'echo "foo" \'bar\''),
    ("name=${FOO}\n", "name=foo\n"),
    ("\\$FOO", "$FOO"),
    ("a\\nb", "anb"),  # backslashes are processed (moby/buildkit#2442)
    ("a\\\\b", "a\\b"),
    ("end\\", "end"),
    ("it's \"fine\"", "it's \"fine\""),  # quotes are plain text: no unterminated-quote error
    ("${UNSET:-'x y'}", "'x y'"),
    ("${FOO#f}", "oo"),
    ("plain text\nno dollar", "plain text\nno dollar"),
]


@pytest.mark.parametrize("body, expected", HEREDOCS)
def test_heredoc_bodies(body, expected):
    assert process_word_keep_quotes(body, {"FOO": "foo", "BAR": "bar"}) == expected


def test_heredoc_bodies_ignore_the_dockerfile_escape():
    env = {"X": "v"}
    assert process_word_keep_quotes("`$X \\$X", env, "`") == "`v $X"
    assert process_word_keep_quotes("`$X \\$X", env, "\\") == "`v $X"


def test_heredoc_errors():
    with pytest.raises(ExpansionError) as info:
        process_word_keep_quotes("line\n${X:?missing}\n", {})
    assert info.value.message == "X: missing" and info.value.offset == 5


# -- bounds -----------------------------------------------------------------------------------

def test_nesting_depth_is_bounded():
    ok = "${A:-" * 60 + "x" + "}" * 60
    assert process_word(ok, {}) == "x"
    deep = "${A:-" * (expand.MAX_DEPTH + 5) + "x" + "}" * (expand.MAX_DEPTH + 5)
    with pytest.raises(ExpansionError, match="nested more than 64 levels"):
        process_word(deep, {})
    very_deep = "${A:-" * 5000 + "x" + "}" * 5000  # would overflow Python's stack if unbounded
    with pytest.raises(ExpansionError, match="nested"):
        process_word(very_deep, {})


def test_nesting_through_quotes_is_bounded():
    word = '${A:-"' * 200 + "x" + '"}' * 200
    with pytest.raises(ExpansionError, match="nested"):
        process_word(word, {})


def test_word_length_is_bounded(monkeypatch):
    monkeypatch.setattr(expand, "MAX_WORD", 100)
    assert process_word("${X}" + "a" * 90, {"X": "b"}) == "b" + "a" * 90
    with pytest.raises(ExpansionError, match="too long") as info:
        process_word("${X}" + "a" * 200, {})
    assert info.value.offset == 0


def test_replacement_size_is_bounded(monkeypatch):
    monkeypatch.setattr(expand, "MAX_RESULT", 10_000)
    with pytest.raises(ExpansionError, match="too large"):
        process_word("${V//?/$R}", {"V": "a" * 1000, "R": "b" * 100})


@pytest.mark.parametrize("word", [
    "${V#*a*a*a*a*a*a*a*b}", "${V##*a*a*a*a*a*a*a*b}", "${V%*a*a*a*a*a*a*a*b}", "${V%%*a*a*a*a*a*a*b*}",
    "${V/*a*a*a*a*a*a*b/x}", "${V//a*a*a*a*a*a*b/x}", "${V//?*?*?*?*c/x}",
])
def test_patterns_are_not_exponential(word):
    value = "a" * 3000
    start = time.perf_counter()
    assert process_word(word, {"V": value}) in (value, "")
    assert time.perf_counter() - start < 5


def test_replace_all_is_linear_on_many_matches():
    value = "ab" * 20000
    start = time.perf_counter()
    assert process_word("${V//a*b/x}", {"V": value}) == "x"
    assert process_word("${V//a?/x}", {"V": value}) == "x" * 20000
    assert time.perf_counter() - start < 5


# -- the pattern language against an independent model ----------------------------------------------
#
# BuildKit turns the pattern into a Go regexp (``*`` -> ``.*`` or ``.*?``, ``?`` -> ``.``) and uses
# leftmost-first matching; Python's re has the same semantics for these regexps, so it serves as
# the reference for the automaton here.

def _regex(pattern, greedy):
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*" if greedy else ".*?")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _reverse(pattern):
    # reverse, keeping \x pairs together (patterns from the strategy end with no lone \)
    units = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            units.append(pattern[i:i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def _model(op, pattern, value):
    if op in ("#", "##"):
        found = re.match(_regex(pattern, op == "##"), value)
        return value[found.end():] if found else value
    if op in ("%", "%%"):
        backwards = value[::-1]
        found = re.match(_regex(_reverse(pattern), op == "%%"), backwards)
        return backwards[found.end():][::-1] if found else value
    regex = re.compile(_regex(pattern, True))
    if op == "/":
        found = regex.search(value)
        return value if not found else value[:found.start()] + "X" + value[found.end():]
    out, last, pos = [], 0, 0  # Go's ReplaceAllString loop
    while pos <= len(value):
        found = regex.search(value, pos)
        if not found:
            break
        out.append(value[last:found.start()])
        if found.end() > last or found.start() == 0:
            out.append("X")
        last = found.end()
        pos = pos + 1 if found.end() <= pos else found.end()
    out.append(value[last:])
    return "".join(out)


_pattern_units = st.sampled_from(["a", "b", "*", "?", "\\*", "\\?", "\n", "."])


@settings(max_examples=400, deadline=None)
@given(op=st.sampled_from(["#", "##", "%", "%%", "/", "//"]),
       pattern=st.lists(_pattern_units, max_size=6).map("".join),
       value=st.text(alphabet="ab*?.\n", max_size=12))
def test_patterns_agree_with_regex_model(op, pattern, value):
    if op in ("/", "//") and (pattern.startswith("/") or not pattern and op == "/"):
        return
    if op == "#" and pattern.startswith("#") or op == "%" and pattern.startswith("%"):
        return
    word = "${V%s%s}" % (op, pattern) if op not in ("/", "//") else "${V%s%s/X}" % (op, pattern)
    assert process_word(word, {"V": value}) == _model(op, pattern, value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab $'\"\\{}:-+?#%/", max_size=16))
def test_arbitrary_words_expand_or_fail_cleanly(word):
    env = {"a": "x y", "b": ""}
    for fn in (process_word, process_word_keep_quotes):
        try:
            result = fn(word, env)
        except ExpansionError as err:
            assert 0 <= err.offset <= len(word)
        else:
            assert isinstance(result, str)
    try:
        words = process_words(word, env)
    except ExpansionError:
        pass
    else:
        assert all(w for w in words)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="$'\"\\"), max_size=30))
def test_words_without_specials_are_unchanged(word):
    assert process_word(word, {"X": "y"}) == word
    assert process_word_keep_quotes(word, {"X": "y"}) == word


# process_word takes the commonest words (one quoted string, or ASCII text whose every $ starts $NAME
# or ${NAME}) without the lexer; on any word, with either escape, its answer (or error) is the lexer's.
_QUICK_ENV = {"A": "1", "B_2": "two words", "EMPTY": "", "K": "한"}


def _by_the_lexer(word, env, escape):
    try:
        return expand._Lexer(word, env, expand._check_escape(escape), True).top(None)
    except ExpansionError as err:
        return ("error", str(err))


@settings(max_examples=600, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(list("$AB_2{}:-+?#%/ab \"'\\`1é한") + ["${A}", "$B_2", "${EMPTY}", "$K"]),
                max_size=12).map("".join),
       st.sampled_from(["\\", "`"]))
def test_quick_words_expand_as_the_lexer_does(word, escape):
    try:
        got = process_word(word, _QUICK_ENV, escape)
    except ExpansionError as err:
        got = ("error", str(err))
    assert got == _by_the_lexer(word, _QUICK_ENV, escape)
