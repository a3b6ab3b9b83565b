"""A table-driven LALR(1) parser: Lark compiles d2s's grammars, this module runs them.

Lark (``lark.Lark``, LALR with a contextual lexer) turns each .lark file into an action table and one
lexer per parser state. :func:`compile_tables` writes what Lark built down as plain data: for each
lexer, its terminal regexes in Lark's order (and Lark's retyping of string terminals that a regex
terminal also matches); the action table; and, for each rule, which children its callback gets.
generated.py keeps that data in the cache folder, so a run after the first imports neither lark nor
its runtime, and compiles a lexer's regexes only when a line first needs that lexer.

:class:`Parser` reads text with those tables exactly as Lark's LALR parser does with a transformer
given to ``Lark(..., transformer=...)``: the same tokens, the same reductions, and the same callbacks
called with the same children (terminals named ``_X`` dropped, rules named ``_x`` spliced into their
parent, ``?rule`` with one child replaced by it). tests/test_generated_parsers.py holds it to that on
every logical line of the corpus, the fixtures and BuildKit's test files. It does only this, in a loop
made for it, which is why it runs two to three times faster than Lark's general runtime. Its tokens
are :class:`Token` strings, or with ``matches=True`` the lexer's own ``re.Match`` objects, which cost
nothing more to hand over (d2s's Dockerfile transformer reads those).
"""

import re
from typing import Dict, List, Optional

FORMAT = 4  # of the tables compile_tables writes; part of the cache key (generated.py). (3 named an
# unreleased layout that cache folders on development machines may still hold.)
PARTS = frozenset(("format", "starts", "actions", "rules", "lexers", "lexer_of_state"))  # of the tables
END = "$END"


class Token(str):
    """A terminal's text, with its type and offsets in the parsed text (Lark's Token, as d2s uses it)."""

    type: str
    start_pos: int
    _text: str

    @property
    def end_pos(self) -> int:
        return self.start_pos + len(self)

    @property
    def value(self) -> str:
        return str(self)

    @property
    def line(self) -> int:
        """1-based line of the first character, counting "\\n" as Lark does."""
        return self._text.count("\n", 0, self.start_pos) + 1

    @property
    def column(self) -> int:
        return self.start_pos - self._text.rfind("\n", 0, self.start_pos)

    def __repr__(self) -> str:
        return "Token(%r, %s)" % (self.type, str.__repr__(self))

    # What Parser.parse reads of a token, named as on the re.Match objects it takes with matches=True.
    @property
    def lastgroup(self) -> str:
        return self.type

    def start(self) -> int:
        return self.start_pos

    def end(self) -> int:
        return self.start_pos + len(self)


class ParseError(ValueError):
    """Text the grammar does not accept, at an offset of the parsed text."""

    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.pos = pos


# -- writing the tables down (needs lark; run once per grammar) -------------------------------------


def compile_tables(lark_parser) -> dict:
    """The tables of a ``lark.Lark(..., parser="lalr", lexer="contextual")`` instance, as plain data.

    Everything is read off the objects Lark built (its lexers' compiled scanners included), not
    worked out again, so the tables say what Lark would do.
    """
    frontend = lark_parser.parser
    table = frontend.parser._parse_table
    options = lark_parser.options
    if options.lexer_callbacks or options.postlex is not None:
        raise ValueError("lalr tables: lexer callbacks and postlex are not supported")

    rules = list(lark_parser.rules)
    rule_index = {rule: i for i, rule in enumerate(rules)}
    rule_rows = []
    for rule in rules:
        opts = rule.options
        if options.maybe_placeholders and opts.empty_indices and any(opts.empty_indices):
            raise ValueError("lalr tables: [optional] placeholders (rule %s) are not supported" % rule.origin.name)
        include = []
        for i, symbol in enumerate(rule.expansion):
            if opts.keep_all_tokens or not (symbol.is_term and symbol.filter_out):
                include.append((i, not symbol.is_term and symbol.name.startswith("_")))
        plain = len(include) == len(rule.expansion) and not any(inline for _, inline in include)
        name = rule.alias or opts.template_source or rule.origin.name
        rule_rows.append((
            str(name),
            rule.origin.name.startswith("_"),  # spliced into the parent: no callback of its own
            len(rule.expansion),
            None if plain else tuple(include),
            bool(opts.expand1 and not rule.alias),
            str(rule.origin.name),
        ))

    actions = {}
    for state, row in table.states.items():
        encoded = {}
        for symbol, (action, arg) in row.items():
            encoded[str(symbol)] = arg if action.name == "Shift" else ~rule_index[arg]
        actions[state] = encoded

    lexers: List[tuple] = []
    lexer_ids: Dict[int, int] = {}
    lexer_of_state = {}
    for state, lexer in frontend.lexer.lexers.items():
        if id(lexer) not in lexer_ids:
            scanner = lexer.scanner  # built on first use: applies Lark's string/regex "unless" rule
            unless = {}
            for kind, callback in lexer.callback.items():
                kind = str(kind)
                inner = getattr(callback, "scanner", None)
                if inner is None:
                    raise ValueError("lalr tables: lexer callback for %s is not supported" % kind)
                unless[kind] = [(m.pattern, m.flags) for m in inner._mres]
            lexer_ids[id(lexer)] = len(lexers)
            lexers.append(([(m.pattern, m.flags) for m in scanner._mres], unless, sorted(map(str, lexer.ignore_types))))
        lexer_of_state[state] = lexer_ids[id(lexer)]

    return {
        "format": FORMAT,
        "starts": {str(name): (table.start_states[name], table.end_states[name]) for name in table.start_states},
        "actions": actions,
        "rules": rule_rows,
        "lexers": lexers,
        "lexer_of_state": lexer_of_state,
    }


# -- running them ----------------------------------------------------------------------------------


class _Lexer:
    """One lexer of the tables; its regexes are compiled on first use (most lexers never run)."""

    __slots__ = ("spec", "regexes", "unless", "ignore")

    def __init__(self, spec):
        self.spec = spec
        self.regexes = None  # compiled: Lark's alternation of terminals, in Lark's order
        self.unless = None  # terminal -> regexes retyping a match to a string terminal
        self.ignore = None

    def compile(self) -> "_Lexer":
        if self.regexes is None:
            patterns, unless, ignore = self.spec
            self.unless = {kind: [re.compile(p, f) for p, f in found] for kind, found in unless.items()}
            self.ignore = frozenset(ignore)
            self.regexes = [re.compile(p, f) for p, f in patterns]
        return self

    def next(self, text: str, pos: int):
        """(terminal, match) of the token at ``pos``, ignored terminals skipped; (None, None) at the end."""
        while pos < len(text):
            for regex in self.regexes:
                found = regex.match(text, pos)
                if found:
                    break
            else:
                raise ParseError("no terminal matches %r here" % text[pos:pos + 20], pos)
            kind = found.lastgroup
            for regex in self.unless.get(kind, ()):
                retyped = regex.fullmatch(found.group())
                if retyped:
                    kind = retyped.lastgroup
                    break
            if kind not in self.ignore:
                return kind, found
            pos = found.end()
        return None, None

    def match(self, text: str, pos: int):
        """The match of the token at ``pos`` (a lexer that retypes and skips nothing), or None."""
        for regex in self.regexes:
            found = regex.match(text, pos)
            if found:
                return found
        return None

    def token(self, text: str, pos: int) -> Token:
        """The Token at ``pos``, ignored terminals skipped; at the end of the text, one of type END."""
        kind, found = self.next(text, pos)
        token = str.__new__(Token, found.group() if found else "")
        if found:
            token.type = kind
            token.start_pos = found.start()
        else:
            token.type = END
            token.start_pos = len(text)
        token._text = text
        return token


# -- the children a rule keeps -----------------------------------------------------------------------
# A rule's include lists the children its callback gets, in order: (index, whether it is a spliced
# rule's list). A spliced list is the stack's own (made by its reduction, nothing else holds it),
# so it can be taken, or extended, instead of copied into a new list.

def _selector(include):
    def select(children):
        kept = []
        for i, inline in include:
            if inline:
                kept.extend(children[i])
            else:
                kept.append(children[i])
        return kept
    return select


def _first_then_spliced(children):  # `flag: FLAG_START _flag_plus`, `arg: ARG _tail`, ...
    spliced = children[1]
    spliced.insert(0, children[0])
    return spliced


def _spliced(children):  # `pairs: _words`
    return children[0]


def _spliced_then_third(children):  # left recursion, `_x_star: _x_star _SEP item`
    spliced = children[0]
    spliced.append(children[2])
    return spliced


# The shapes most reductions have (a function call costs less than _selector's loop).
_SELECTORS = {((0, False), (1, True)): _first_then_spliced, ((0, True),): _spliced,
              ((0, True), (2, False)): _spliced_then_third}


class Parser:
    """Parses text with compiled tables, calling ``transformer``'s methods as Lark would.

    For a rule ``name`` it calls ``transformer.name(children)``, or ``transformer.__default__(name,
    children, None)`` when there is no such method; with no transformer it builds ``(name, children)``
    tuples (what the tests compare with Lark's trees).
    """

    def __init__(self, tables: dict, transformer=None, matches: bool = False):
        if tables.get("format") != FORMAT:
            raise ValueError("lalr tables of format %r, expected %r" % (tables.get("format"), FORMAT))
        self.transformer = transformer
        # With matches, the tokens handed to the transformer are the lexer's re.Match objects
        # (m[0] the text, m.start() the offset, m.lastgroup the terminal) instead of Tokens: making
        # a Token (a str, then its attributes) was a fifth of the parse loop's time. It takes a
        # grammar whose lexers never retype or skip what their regex matched.
        self.matches = matches
        if matches and any(unless or ignore for _, unless, ignore in tables["lexers"]):
            raise ValueError("lalr tables: tokens as matches need lexers without retyping or ignored terminals")
        self.starts = tables["starts"]
        count = max(tables["actions"]) + 1
        self.actions: List[Optional[dict]] = [None] * count
        for state, row in tables["actions"].items():
            self.actions[state] = row
        self._lexers = [_Lexer(spec) for spec in tables["lexers"]]
        self._lexer_of_state = [0] * count
        for state, index in tables["lexer_of_state"].items():
            self._lexer_of_state[state] = index
        # Per state, filled on first use: the function reading a token at an offset (see _scanner).
        self.scanners: list = [None] * count
        self.rules = [self._reducer(row, transformer) for row in tables["rules"]]
        # The states whose last action is a reduction by a start rule that stands for its one child
        # (`?start: a | b`): reaching one at the end with only that child on the stack, the parse
        # is over and the child is the result. (A child shifted as a token is reduced as any rule.)
        finishing = frozenset(~i for i, (name, inlined, size, include, expand1, origin)
                              in enumerate(tables["rules"])
                              if origin in self.starts and size == 1 and include is None and expand1)
        self.finished = frozenset(state for state, row in tables["actions"].items() if row.get(END) in finishing)
        self._loop = (self.actions, self.scanners, self.rules, self.finished)  # what parse reads, in one load

    @staticmethod
    def _reducer(row, transformer):
        """(-size, selector of the children or None for all, expand1, callback or None to splice,
        origin) for one rule."""
        name, inlined, size, include, expand1, origin = row
        if inlined:
            callback = None
        elif transformer is None:
            def callback(children, name=name):
                return (name, children)
        else:
            callback = getattr(transformer, name, None)
            if callback is None:
                default = getattr(transformer, "__default__", None)
                if default is not None:
                    def callback(children, name=name, default=default):
                        return default(name, children, None)
                elif expand1:  # a ?rule that always has one child (it stands for it) needs no method
                    def callback(children, name=name):
                        raise ValueError("the transformer has no method for rule %s" % name)
                else:
                    raise ValueError("the transformer has no method for rule %s" % name)
        select = None if include is None else _SELECTORS.get(include) or _selector(include)
        return -size, select, expand1 and callback is not None, callback, origin

    def _scanner(self, state: int):
        """The state's lexer as one call ``scanner(text, pos)``: the token's match (None when no
        terminal matches), or in Token mode a Token. One kind of call keeps parse's loop free of a
        test per token."""
        lexer = self._lexers[self._lexer_of_state[state]].compile()
        if not self.matches:
            scanner = lexer.token
        elif len(lexer.regexes) == 1:
            scanner = lexer.regexes[0].match  # the fast path: one C call a token
        else:
            scanner = lexer.match
        self.scanners[state] = scanner
        return scanner

    def parse(self, text: str, start: str = "start"):
        state, end_state = self.starts[start]
        actions, scanners, rules, finished = self._loop
        states = [state]
        values: list = []
        pos, end = 0, len(text)
        try:
            while True:
                # The next token, read by the lexer of the current state (Lark's contextual lexer): a
                # match, or a Token that answers to the same calls (see _scanner). A separator's token
                # is pushed like any other: the rules that hold it drop it (their include), unread.
                if pos < end:
                    found = (scanners[state] or self._scanner(state))(text, pos)
                    if found is None:
                        raise ParseError("no terminal matches %r here" % text[pos:pos + 20], pos)
                    kind = found.lastgroup
                    pos = found.end()
                else:
                    kind = END
                # Shift it, after the reductions it completes. (An action missing from the table
                # raises KeyError: the token is unexpected here.)
                action = actions[state][kind]
                while action < 0:
                    cut, select, expand1, callback, origin = rules[~action]  # cut: minus the size
                    if cut:
                        children = values[cut:]
                        del values[cut:]
                        del states[cut:]
                    else:
                        children = []
                    if select is not None:
                        children = select(children)
                    if callback is None:
                        value = children
                    elif expand1 and len(children) == 1:
                        value = children[0]
                    else:
                        value = callback(children)
                    state = actions[states[-1]][origin]
                    if kind is END and (state == end_state or state in finished and len(states) == 1):
                        return value
                    states.append(state)
                    values.append(value)
                    action = actions[state][kind]
                states.append(action)
                values.append(found)
                state = action
        except KeyError:
            if kind not in actions[state]:
                expected = sorted(name for name in actions[state] if name.isupper() or name == END)
                raise ParseError("unexpected %s, expected one of %s" % (kind, ", ".join(expected)),
                                 found.start() if kind is not END else pos) from None
            raise
