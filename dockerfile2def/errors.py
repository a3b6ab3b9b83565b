"""Errors and diagnostics: every finding has a location, and every lossy translation a stable code."""

from typing import Optional

from .records import Frozen


class D2SError(ValueError):
    """Bad input: the one exception the public API raises for it.

    ``str(err)`` is the one-line ``PATH:LINE:COL: error: MESSAGE`` form the CLI prints.
    """

    def __init__(self, message: str, line: int = 1, column: int = 1, path: Optional[str] = None):
        # One line whatever the message quotes from the input (a newline, a carriage return).
        self.message = one_line(message, keep="\t")
        self.line = line
        self.column = column
        self.path = path
        super().__init__(self.format())

    def format(self, path: Optional[str] = None) -> str:
        where = path or self.path or "Dockerfile"
        return "%s:%d:%d: error: %s" % (where, self.line, self.column, self.message)

    def with_path(self, path: str) -> "D2SError":
        return D2SError(self.message, self.line, self.column, path)

    def __str__(self) -> str:
        return self.format()


def one_line(text: str, keep: str = "") -> str:
    """``text`` with control characters and line breaks escaped (those in ``keep`` stay), for output
    that must stay on one line: error messages, file names in comment lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


class Diagnostic(Frozen):
    """A finding: ``code`` is stable (D2Sxxx) and documented in docs/diagnostics.md. Immutable and hashable."""

    __slots__ = ("code", "message", "line", "column", "severity", "path")

    def __init__(self, code: str, message: str, line: int, column: int = 1, severity: str = "warning",
                 path: Optional[str] = None):
        _set_code(self, code)
        _set_message(self, message)
        _set_line(self, line)
        _set_column(self, column)
        _set_severity(self, severity)  # "warning" or "error"
        _set_path(self, path)

    def format(self, path: Optional[str] = None) -> str:
        where = path or self.path or "Dockerfile"
        return "%s:%d:%d: %s[%s]: %s" % (where, self.line, self.column, self.severity, self.code, self.message)

    def as_dict(self, path: Optional[str] = None) -> dict:
        return {
            "path": path or self.path,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


# The slots' own setters: they go past Frozen.__setattr__, which refuses every change, and cost less
# than object.__setattr__ (as ir.Span's; a conversion makes a Diagnostic per warning).
_set_code, _set_message, _set_line = Diagnostic.code.__set__, Diagnostic.message.__set__, Diagnostic.line.__set__
_set_column, _set_severity, _set_path = (Diagnostic.column.__set__, Diagnostic.severity.__set__,
                                         Diagnostic.path.__set__)
