"""Plain record classes: the constructor is written by hand, equality and repr are the ones a
dataclass would generate, written once here.

Importing ``dataclasses`` (and ``inspect`` with it) and generating the methods of every class cost
each `d2s convert` and `d2s check` a dozen milliseconds at start-up, so d2s's records (the IR, the
diagnostics, the conversion context, d2s check's findings and definition pieces) derive from these.
Each class lists its own fields in ``__slots__``, in constructor order; ``_fields`` holds all of
them, inherited ones first, as a dataclass orders them. The constructor takes them all, in that
order, and keeps a value it is given as it is (a default may stand for ``None``): a deep copy is
made by calling it with the copied values.
"""

from operator import attrgetter
from typing import Callable, Tuple

# Values a deep copy shares instead of copying: plain immutable types, and every Frozen class.
_SHARED = {str, int, bool, type(None)}


class Record:
    """Equal when of the same class with equal fields, in order; like a dataclass with ``eq=True``,
    not hashable."""

    __slots__ = ()
    __hash__ = None
    _fields: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._fields = cls.__mro__[1]._fields + tuple(cls.__dict__.get("__slots__", ()))
        cls.__match_args__ = cls._fields
        cls._field_values = _values_getter(cls._fields)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __repr__(self):
        return "%s(%s)" % (self.__class__.__qualname__,
                           ", ".join("%s=%r" % (name, getattr(self, name)) for name in self._fields))

    def _values(self) -> tuple:
        return self.__class__._field_values(self)  # read on the class: a function there would bind to self

    def __deepcopy__(self, memo):
        # copy.deepcopy's generic path (__reduce_ex__, then rebuilding) was most of what replaying a
        # parent stage cost (passes/select_stages.py); fields holding immutable values are shared,
        # and lists and records (the rest of the IR) are copied by _deep_copy without copy.deepcopy's
        # dispatch, which cost more than the copying itself for the mostly empty lists of a node.
        # The copy is the constructor's (one call; a setattr per field cost a third more), so it is
        # in the memo only once made: a record cannot hold itself (the IR is a tree).
        cls = self.__class__
        values = []
        for value in cls._field_values(self):
            if value.__class__ not in _SHARED:
                # An empty list (most of a node's lists) is copied here, not through the memo: two
                # nodes sharing one would get a list each, which nothing adds to in place of the other.
                value = [] if value.__class__ is list and not value else _deep_copy(value, memo)
            values.append(value)
        new = memo[id(self)] = cls(*values)
        return new


def _values_getter(fields: Tuple[str, ...]) -> Callable[["Record"], tuple]:
    """A function giving a record's field values as a tuple: operator.attrgetter (one C call) for
    two fields or more; it gives the value itself for one."""
    if len(fields) > 1:
        return attrgetter(*fields)
    if fields:
        return lambda record, name=fields[0]: (getattr(record, name),)
    return lambda record: ()


def deep_copy(value):
    """copy.deepcopy(value) for a list or record of the IR, without copy.deepcopy's dispatch at the top
    and the keep-alive list it adds to the memo (the originals belong to the caller)."""
    return _deep_copy(value, {})


def _deep_copy(value, memo):
    """copy.deepcopy(value, memo) for a value that is not in _SHARED. As there, an object met twice
    is copied once (``memo``); the originals need no keeping alive, they belong to the record being
    copied."""
    copied = memo.get(id(value), memo)
    if copied is not memo:
        return copied
    if value.__class__ is list:
        copied = memo[id(value)] = []
        for item in value:
            copied.append(item if item.__class__ in _SHARED else _deep_copy(item, memo))
        return copied
    if isinstance(value, Record):
        return value.__deepcopy__(memo)
    from copy import deepcopy

    return deepcopy(value, memo)


class Frozen(Record):
    """An immutable, hashable record, like a frozen dataclass. Its constructor sets the fields with
    ``object.__setattr__``, or with the slots' own setters (``Span.line.__set__``, cheaper), which go
    past this class's own ``__setattr__``, refusing every change."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _SHARED.add(cls)

    def __setattr__(self, name, value):
        raise AttributeError("cannot assign to field %r: a %s is immutable" % (name, self.__class__.__name__))

    def __delattr__(self, name):
        raise AttributeError("cannot delete field %r: a %s is immutable" % (name, self.__class__.__name__))

    def __hash__(self):
        return hash(self._values())

    # copy and pickle rebuild through the constructor (their default would set the slots one by one,
    # which __setattr__ refuses); an immutable value needs no copy at all.
    def __reduce__(self):
        return (self.__class__, self._values())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self
