"""Lark's stand-alone parsers for d2s's grammars, generated on first use and kept in the cache folder.

Lark's generator (``lark.tools.standalone``: LALR, contextual lexer) turns a .lark file, the source of
truth, into a module holding Lark's runtime and the compiled parse tables. d2s keeps it in its cache
folder (cache.py) as ``parser-<grammar>-<digest>.py`` with its byte code, the digest covering the
grammar files and the options, so a changed grammar gets a new module; later runs neither import lark
nor compile or load a grammar. Without a writable cache the module is made in memory. The module is
Lark's code (MPL 2.0), which is why it is made on the user's machine and never kept in the repository.
"""

import hashlib
import importlib.util
import os
import types
from typing import Sequence

_MODULES = {}

# The runtime imports the third-party regex module when it is installed; d2s's grammars need only re,
# and the import costs every start-up ~9 ms.
_REGEX_PROBE = "try:\n    import regex\n    _has_regex = True\nexcept ImportError:\n    _has_regex = False\n"


def standalone(grammar: str, sources: Sequence[str], **options):
    """The stand-alone module for ``grammar`` (a file of grammar/), which may import ``sources``."""
    key = (grammar, tuple(sources), tuple(sorted((k, repr(v)) for k, v in options.items())))
    module = _MODULES.get(key)
    if module is None:
        module = _MODULES[key] = _load(grammar, sources, options)
    return module


def _load(grammar: str, sources: Sequence[str], options: dict):
    from .cache import cache_folder, write_atomic

    folder = grammar_folder()
    digest = hashlib.sha256(repr(sorted((k, repr(v)) for k, v in options.items())).encode())
    for name in sources:
        with open(os.path.join(folder, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read() + b"\0")
    stem = grammar.rsplit(".", 1)[0]
    module_name = "dockerfile2def._lark_" + stem
    cache = cache_folder()
    path = os.path.join(cache, "parser-%s-%s.py" % (stem, digest.hexdigest()[:16])) if cache else None
    code = None
    if path and not os.path.isfile(path):
        import py_compile

        code = _generate(folder, grammar, options)
        try:
            write_atomic(path, code)
            py_compile.compile(path, doraise=True)  # byte code even where PYTHONDONTWRITEBYTECODE is set
        except (OSError, py_compile.PyCompileError):  # a full disk, say: the parser still works, from memory
            path = None
    if path is None:
        code = code or _generate(folder, grammar, options)
        module = types.ModuleType(module_name)
        exec(compile(code, "<d2s %s parser>" % stem, "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(folder: str, grammar: str, options: dict) -> str:
    import io

    from lark import Lark
    from lark.tools.standalone import gen_standalone

    out = io.StringIO()
    gen_standalone(Lark.open(os.path.join(folder, grammar), parser="lalr", lexer="contextual", **options), out=out)
    return out.getvalue().replace(_REGEX_PROBE, "_has_regex = False  # d2s: the grammar needs only re\n", 1)


def grammar_folder() -> str:
    """The installed grammar/ folder (the package dockerfile2def.grammar)."""
    return os.path.dirname(importlib.util.find_spec("dockerfile2def.grammar").origin)
