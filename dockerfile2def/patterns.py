"""Go's filepath.Match, and .dockerignore rules with moby/patternmatcher's semantics.

COPY/ADD wildcards use filepath.Match on '/'-separated paths (``*`` and ``?`` never cross ``/``,
``[...]`` classes, ``\\`` escapes). .dockerignore adds ``**`` (any number of folders) and ``!``
exceptions; a rule matches a path or any of its parents, and the last matching rule wins.
"""

import os
import posixpath
import re
from typing import Dict, List, Optional


class PatternError(ValueError):
    """A malformed pattern (Go's ErrBadPattern)."""


def _class(pattern: str, i: int):
    """Translate a [...] class starting at pattern[i] == '['; return (regex, next index)."""
    j = i + 1
    negate = False
    if j < len(pattern) and pattern[j] == "^":
        negate = True
        j += 1
    parts = []
    first = True
    while True:
        if j >= len(pattern):
            raise PatternError("syntax error in pattern: unterminated [")
        c = pattern[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "\\":
            j += 1
            if j >= len(pattern):
                raise PatternError("syntax error in pattern: trailing \\")
            c = pattern[j]
        elif c in "-]":
            raise PatternError("syntax error in pattern: bad range")
        low = c
        j += 1
        if j < len(pattern) and pattern[j] == "-":
            j += 1
            if j >= len(pattern):
                raise PatternError("syntax error in pattern: unterminated range")
            high = pattern[j]
            if high == "\\":
                j += 1
                if j >= len(pattern):
                    raise PatternError("syntax error in pattern: trailing \\")
                high = pattern[j]
            elif high == "]":
                raise PatternError("syntax error in pattern: bad range")
            j += 1
            if high < low:
                raise PatternError("syntax error in pattern: bad range")
            parts.append("%s-%s" % (re.escape(low), re.escape(high)))
        else:
            parts.append(re.escape(low))
    body = "".join(parts)
    return ("[^/%s]" % body if negate else "(?!/)[%s]" % body), j


def translate(pattern: str, double_star: bool = False) -> str:
    """A regular expression matching exactly what the pattern matches."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if double_star and pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")  # **/ : any number of folders, none included
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            regex, i = _class(pattern, i)
            out.append(regex)
            continue
        elif c == "\\":
            i += 1
            if i >= n:
                raise PatternError("syntax error in pattern: trailing \\")
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


_CACHE: Dict[str, "re.Pattern"] = {}


def match(pattern: str, name: str) -> bool:
    """Go's filepath.Match (on '/'-separated paths)."""
    regex = _CACHE.get(pattern)
    if regex is None:
        regex = _CACHE[pattern] = re.compile(translate(pattern) + r"\Z", re.S)
    return regex.match(name) is not None


def has_wildcard(path: str) -> bool:
    return any(c in path for c in "*?[")


class Rule:
    __slots__ = ("pattern", "exclusion", "regex")

    def __init__(self, pattern: str, exclusion: bool):
        self.pattern = pattern
        self.exclusion = exclusion
        self.regex = re.compile(translate(pattern, double_star=True) + r"\Z", re.S)


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern.strip())
    return cleaned.strip("/") if cleaned not in ("/",) else ""


def read_ignore_file(text: str) -> List[Rule]:
    rules = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        line = line.strip()
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        pattern = _clean(line)
        if not pattern or pattern == ".":
            continue
        rules.append(Rule(pattern, exclusion))
    return rules


class IgnoreMatcher:
    """Whether a context path is excluded by .dockerignore rules (the last matching rule wins)."""

    def __init__(self, rules: List[Rule]):
        self.rules = rules

    def matches(self, path: str) -> bool:
        path = path.strip("/")
        if not path or path == ".":
            return False
        parts = path.split("/")
        ignored = False
        for rule in self.rules:
            # a rule matches the path or any of its parent folders
            hit = any(rule.regex.match("/".join(parts[:k])) for k in range(1, len(parts) + 1))
            if hit:
                ignored = not rule.exclusion
        return ignored

    def may_include_below(self, folder: str) -> bool:
        """Whether some exception rule could re-include a path under an ignored folder."""
        return any(rule.exclusion for rule in self.rules)


def find_ignore_file(context_dir: str, dockerfile_path: Optional[str]) -> Optional[str]:
    """``<Dockerfile>.dockerignore`` beside the Dockerfile wins over ``<context>/.dockerignore``."""
    if dockerfile_path and dockerfile_path not in ("-", "<stdin>"):
        specific = dockerfile_path + ".dockerignore"
        if os.path.isfile(specific):
            return specific
    general = os.path.join(context_dir, ".dockerignore")
    return general if os.path.isfile(general) else None
