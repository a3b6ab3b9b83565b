"""The parse tables of d2s's grammars, compiled by Lark on first use and kept in the cache folder.

Lark (LALR, contextual lexer) compiles a .lark file, the source of truth; lalr.compile_tables writes
the tables it built down as plain data, and d2s keeps them in its cache folder (cache.py) as
``tables-<grammar>-<digest>.marshal``. The digest covers the grammar files, the options, the table
format and the Python version (marshal's format is Python's own), so a changed grammar gets new
tables. Later runs read them back with marshal, a fraction of a millisecond, and import neither
lark nor a parser runtime: lalr.Parser runs them. Without a writable cache they are made in memory.
"""

import marshal
import os
import sys
from typing import Sequence

from . import lalr

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
    from .output import sha256  # without hashlib's start-up cost

    folder = grammar_folder()
    digest = sha256(repr((lalr.FORMAT, sys.implementation.cache_tag, marshal.version,
                           sorted((k, repr(v)) for k, v in options.items()))).encode())
    for name in sources:
        with open(os.path.join(folder, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read() + b"\0")
    stem = grammar.rsplit(".", 1)[0]
    cache = cache_folder()
    path = os.path.join(cache, "tables-%s-%s.marshal" % (stem, digest.hexdigest()[:16])) if cache else None
    if path:
        try:
            with open(path, "rb") as handle:
                found = marshal.loads(handle.read())
            if isinstance(found, dict) and found.get("format") == lalr.FORMAT and lalr.PARTS <= found.keys():
                return found
        except (OSError, ValueError, EOFError, TypeError):  # missing or damaged: made (again) below
            pass
    found = _compile(folder, grammar, options)
    if path:
        try:
            write_atomic(path, marshal.dumps(found))
        except OSError:  # a full disk, say: the tables still work, from memory
            pass
    return found


def _compile(folder: str, grammar: str, options: dict) -> dict:
    from lark import Lark

    return lalr.compile_tables(Lark.open(os.path.join(folder, grammar), parser="lalr", lexer="contextual", **options))


def grammar_folder() -> str:
    """The installed grammar/ folder (grammar/ of the source tree, installed as dockerfile2def.grammar)."""
    from . import grammar  # the package holding the .lark files

    return os.path.dirname(grammar.__file__)
