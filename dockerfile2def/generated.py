"""The parse tables of d2s's grammars, compiled by Lark on first use and kept in the cache folder.

Lark (LALR, contextual lexer) compiles a .lark file, the source of truth; lalr.compile_tables writes
the tables it built down as plain data, and d2s keeps them in its cache folder (cache.py) as a Python
literal, ``tables-<grammar>-<digest>.py``, with its byte code. The digest covers the grammar files,
the options and the table format, so a changed grammar gets new tables. Later runs
load them with neither lark nor a parser runtime to import: lalr.Parser runs them. Without a
writable cache the tables are made in memory.
"""

import importlib.util
import os
from typing import Sequence

from . import lalr

try:  # CPython's own sha256: hashlib would load OpenSSL, milliseconds of every start-up
    from _sha256 import sha256 as _sha256
except ImportError:
    from hashlib import sha256 as _sha256

_TABLES = {}


def tables(grammar: str, sources: Sequence[str], **options) -> dict:
    """The parse tables of ``grammar`` (a file of grammar/, which may import ``sources``)."""
    key = (grammar, tuple(sources), tuple(sorted((k, repr(v)) for k, v in options.items())))
    found = _TABLES.get(key)
    if found is None:
        found = _TABLES[key] = _load(grammar, sources, options)
    return found


def _load(grammar: str, sources: Sequence[str], options: dict) -> dict:
    from .cache import cache_folder, write_atomic

    folder = grammar_folder()
    digest = _sha256(repr((lalr.FORMAT, sorted((k, repr(v)) for k, v in options.items()))).encode())
    for name in sources:
        with open(os.path.join(folder, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read() + b"\0")
    stem = grammar.rsplit(".", 1)[0]
    cache = cache_folder()
    path = os.path.join(cache, "tables-%s-%s.py" % (stem, digest.hexdigest()[:16])) if cache else None
    if path and os.path.isfile(path):
        spec = importlib.util.spec_from_file_location("dockerfile2def._tables_" + stem, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            if module.TABLES["format"] == lalr.FORMAT:
                return module.TABLES
        except Exception:  # a damaged cache file: made again below
            pass
    found = _compile(folder, grammar, options)
    if path:
        import py_compile

        try:
            write_atomic(path, "# d2s: parse tables of grammar/%s, compiled by lark; safe to delete.\nTABLES = %r\n"
                         % (grammar, found))
            py_compile.compile(path, doraise=True)  # byte code even where PYTHONDONTWRITEBYTECODE is set
        except (OSError, py_compile.PyCompileError):  # a full disk, say: the tables still work, from memory
            pass
    return found


def _compile(folder: str, grammar: str, options: dict) -> dict:
    from lark import Lark

    return lalr.compile_tables(Lark.open(os.path.join(folder, grammar), parser="lalr", lexer="contextual", **options))


def grammar_folder() -> str:
    """The installed grammar/ folder (the package dockerfile2def.grammar)."""
    return os.path.dirname(importlib.util.find_spec("dockerfile2def.grammar").origin)
