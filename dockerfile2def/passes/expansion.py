"""Shared helper for the passes: BuildKit word expansion with errors placed at the instruction."""

from typing import List, Mapping

from ..conversion import Context
from ..expand import ExpansionError, process_word, process_words
from ..ir import Dockerfile, Instruction


def expansion_error(err: ExpansionError, word: str, instruction: Instruction, ctx: Context):
    """The error to raise for ``err``, placed at ``word`` in the instruction's line."""
    at = instruction.original.find(word) if word else -1
    column = instruction.span.column + (at if at >= 0 else 0) + getattr(err, "offset", 0)
    return ctx.error("%s (in %r)" % (err, word), instruction.span.line, column)


def expand_word(word: str, env: Mapping[str, str], dockerfile: Dockerfile, instruction: Instruction,
                ctx: Context) -> str:
    escape = dockerfile.escape
    if "$" not in word and "'" not in word and '"' not in word and escape not in word:
        return word  # nothing to expand (most words): what process_word would return, a call sooner
    try:
        return process_word(word, env, escape)
    except ExpansionError as err:
        raise expansion_error(err, word, instruction, ctx)


def expand_words(text: str, env: Mapping[str, str], dockerfile: Dockerfile, instruction: Instruction,
                 ctx: Context) -> List[str]:
    try:
        return process_words(text, env, dockerfile.escape)
    except ExpansionError as err:
        raise expansion_error(err, text, instruction, ctx)
