"""Quoting values into definition-file sections so Apptainer reads them as data.

Apptainer's def parser cuts a stage at any line starting ``bootstrap:``, starts a section at any
line whose first word begins with ``%``, and replaces ``{{ word }}`` everywhere but after a ``#``
(spec-digest B.1, B.7, B.11). Every value d2s writes into a script goes through :func:`quote`,
which yields POSIX shell text that cannot trip any of those, byte for byte equal to the value
once the shell reads it.
"""

import re

from .passes.scope import DEFERRED_OPEN, deferred_pieces

# A word the shell reads as itself needs no quoting: these characters, not starting with % (a section
# line). The check maps each of them to "a" and every other byte to " " (str and bytes methods in C: a
# regular expression's call cost several times more, for words of a few characters).
_WORD_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-"
_WORD_TABLE = bytes(ord("a") if byte in _WORD_CHARS else ord(" ") for byte in range(256))
_PLACEHOLDER = re.compile(r"\{(?=\{)")  # each { before a {: "{{{" must not leave a "{{"


def quote(value: str) -> str:
    """One shell word whose value is ``value``, safe inside any def-file section.

    Newlines are written as ``"$d2s_nl"`` (the scripts define it), so a value never spans lines.
    A marker of a base-image variable (passes/scope.py) becomes a ``"${NAME}"`` reference.
    """
    # Most words: no space (values with one, such as RUN commands, fail at once), then the table.
    if " " not in value and value.isascii() and value.encode().translate(_WORD_TABLE).isalnum() and value[0] != "%":
        return value
    if DEFERRED_OPEN in value:
        return _quote_deferred(value)
    # '"'"' rather than '\'': Apptainer's own shell reads %environment and keeps the backslash of \'.
    text = value.replace("'", "'\"'\"'")
    # '{''{' is the same two braces to the shell, but not a {{ placeholder to Apptainer.
    if "{" in text and "{{" in text:  # rare: skip the regex otherwise (a memchr for "{" first: cheaper)
        text = _PLACEHOLDER.sub("{''", text)
    if "\n" in text:  # each newline between two single-quoted parts (no brace pair spans one)
        text = text.replace("\n", _NEWLINE_BETWEEN_QUOTES)
    return f"'{text}'"


def _quote_deferred(value: str) -> str:
    return "".join('"${%s}"' % text if marker else quote(text) for marker, text in deferred_pieces(value))


def words(argv) -> str:
    return " ".join(map(quote, argv))


# Defines d2s_nl (a newline) for scripts whose quoted values may contain one.
NEWLINE_DEFINITION = "d2s_nl=\"$(printf '\\nx')\"; d2s_nl=\"${d2s_nl%x}\""
NEWLINE_WORD = '"$d2s_nl"'  # a newline in a quoted value (emit tests a text for it)
_NEWLINE_BETWEEN_QUOTES = "'%s'" % NEWLINE_WORD  # closes a single-quoted part, then reopens one


def label_text(value: str) -> str:
    """A %labels value: one line, taken verbatim by Apptainer (no quoting possible)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def is_hazard_line(line: str) -> bool:
    """True when a line of free text would change the meaning of a def file."""
    stripped = line.lstrip()
    return (
        stripped.startswith("%")
        or line.lower().startswith("bootstrap:")
        or "{{" in line
    )
