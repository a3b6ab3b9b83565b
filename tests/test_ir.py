"""The IR classes, Diagnostic, Context and Conversion: plain classes that behave as the dataclasses they were.

They were dataclasses; importing ``dataclasses`` and generating their methods cost every `d2s convert`
a dozen milliseconds, so they are written out by hand. These tests hold them to what the dataclasses
did: the constructor's parameters (names, order, defaults), fresh lists and dicts per object, value
equality, the repr, and for Span and Diagnostic immutability and hashing.
"""

import copy
import inspect
import pickle
import subprocess
import sys

import pytest

from dockerfile2def import ir
from dockerfile2def.conversion import Context, Conversion
from dockerfile2def.errors import Diagnostic
from dockerfile2def.parser import parse

NODES = sorted((c for c in vars(ir).values() if isinstance(c, type) and issubclass(c, ir._Node)
                and not issubclass(c, ir.Frozen) and c is not ir._Node),
               key=lambda c: c.__name__)
VALUES = [ir.Span, Diagnostic]
CLASSES = NODES + VALUES + [Context, Conversion]

_INSTRUCTION = "keyword, span, flags=None, original='', workdir=None, user=None, shell=None"

# The constructors as the dataclasses had them, a ``default_factory`` written as None. The parser and
# the passes pass most arguments by position, so the order is part of the interface.
SIGNATURES = {
    "Arg": _INSTRUCTION + ", declarations=None",
    "ArgDeclaration": "name, default, value=None",
    "Cmd": _INSTRUCTION + ", command=None",
    "Context": "path='Dockerfile', context_dir=None, build_args=None, target=None, base_configs=None, "
               "config_loader=None, downloader=None, cloner=None, own_outputs=None, diagnostics=None",
    "Conversion": "definition, diagnostics=None",
    "Copy": _INSTRUCTION + ", sources=None, destination='', json=False, heredocs=None, plan=None",
    "Diagnostic": "code, message, line, column=1, severity='warning', path=None",
    "Dockerfile": "stages, global_args=None, directives=None, escape='\\\\', path='Dockerfile', global_scope=None, "
                  "image_stages=None",
    "Entrypoint": _INSTRUCTION + ", command=None",
    "Env": _INSTRUCTION + ", pairs=None, legacy=False",
    "_KeyValues": _INSTRUCTION + ", pairs=None, legacy=False",
    "ExecForm": "argv",
    "Expose": _INSTRUCTION + ", ports=None",
    "Flag": "name, value, span",
    "From": _INSTRUCTION + ", image='', stage_name=None, platform=None",
    "Healthcheck": _INSTRUCTION + ", kind='NONE', command=None",
    "Heredoc": "name, body, expand, chomp, file_descriptor=0, span=None",
    "Instruction": _INSTRUCTION,
    "KeyValue": "key, value",
    "Label": _INSTRUCTION + ", pairs=None, legacy=False",
    "Maintainer": _INSTRUCTION + ", name=''",
    "Mount": "kind, target, options=None, source=None",
    "Onbuild": _INSTRUCTION + ", trigger=None",
    "Run": _INSTRUCTION + ", command=None, heredocs=None, files=None, mounts=None",
    "Runtime": "entrypoint=None, cmd=None, workdir='/', user=None, env=None, labels=None, inherits_runscript=False, "
               "base_known=True",
    "Shell": _INSTRUCTION + ", argv=None",
    "ShellForm": "text",
    "Span": "line, column=1, end_line=0",
    "Stage": "index, base, instructions=None, runtime=None, parent=None, ancestry=None",
    "StagedSource": "kind, source, staged, name, directory=False, stage=None, body=None, extract=False, entries=None, "
                    "wildcard=False, checksum=None, mode=None, keep_git_dir=False, parents=None, leave_out=None",
    "StopSignal": _INSTRUCTION + ", signal=''",
    "User": "keyword, span, flags=None, original='', workdir=None, user='', shell=None",  # USER's own default
    "Volume": _INSTRUCTION + ", paths=None, json=False",
    "Workdir": _INSTRUCTION + ", path=''",
}


def _parameters(cls):
    return list(inspect.signature(cls).parameters.values())


def _signature(cls) -> str:
    return ", ".join(p.name if p.default is inspect.Parameter.empty else "%s=%r" % (p.name, p.default)
                     for p in _parameters(cls))


def _make(cls):
    """An object of ``cls`` with every required argument given a distinct placeholder."""
    return cls(*["<%s>" % p.name for p in _parameters(cls) if p.default is inspect.Parameter.empty])


def test_every_class_has_a_pinned_signature():
    assert sorted(SIGNATURES) == sorted(c.__name__ for c in CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_parameters_are_the_fields_in_order(cls):
    assert _signature(cls) == SIGNATURES[cls.__name__]
    assert tuple(p.name for p in _parameters(cls)) == cls._fields
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in _parameters(cls))


@pytest.mark.parametrize("cls", [c for c in NODES if issubclass(c, ir.Instruction)], ids=lambda c: c.__name__)
def test_instruction_fields_come_first(cls):
    assert cls._fields[:len(ir.Instruction._fields)] == ir.Instruction._fields


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_are_fresh_per_object(cls):
    first, second = _make(cls), _make(cls)
    assert first == second
    for name in cls._fields:
        value = getattr(first, name)
        if isinstance(value, (list, dict, ir._Node)):
            assert value is not getattr(second, name), "%s.%s shared between two objects" % (cls.__name__, name)


def test_defaults_of_containers_and_commands():
    run = ir.Run("RUN", ir.Span(1))
    assert (run.flags, run.heredocs, run.files, run.mounts, run.command) == ([], [], [], [], ir.ShellForm(""))
    assert ir.Cmd("CMD", ir.Span(1)).command == ir.Entrypoint("ENTRYPOINT", ir.Span(1)).command == ir.ShellForm("")
    assert ir.Healthcheck("HEALTHCHECK", ir.Span(1)).command is None
    assert ir.Mount("bind", "/x").options == {}
    assert ir.StagedSource("context", "a", "/.d2s/a", "a").entries is None
    assert ir.StagedSource("context", "a", "/.d2s/a", "a").leave_out == []
    dockerfile = ir.Dockerfile([])
    assert (dockerfile.global_args, dockerfile.directives, dockerfile.global_scope, dockerfile.image_stages) == (
        [], {}, {}, [])
    context = Context()
    assert (context.build_args, context.base_configs, context.own_outputs, context.diagnostics) == ({}, {}, [], [])
    assert Conversion("x").diagnostics == []


def test_node_equality_and_repr():
    span = ir.Span(2, 3, 4)
    flag = ir.Flag("from", "build", span)
    assert flag == ir.Flag("from", "build", ir.Span(2, 3, 4))
    assert flag != ir.Flag("from", "other", span)
    assert repr(flag) == "Flag(name='from', value='build', span=Span(line=2, column=3, end_line=4))"
    assert flag.text() == "--from=build"
    # same fields, other class: not equal, as with dataclasses
    assert ir.Cmd("X", span) != ir.Entrypoint("X", span)
    assert ir.Instruction("X", span) != ir.User("X", span, user=None)
    assert ir.ShellForm("a").__eq__("a") is NotImplemented
    assert repr(ir.ShellForm("echo hi")) == "ShellForm(text='echo hi')"
    assert repr(ir.User("USER", span)) == ("User(keyword='USER', span=Span(line=2, column=3, end_line=4), flags=[], "
                                           "original='', workdir=None, user='', shell=None)")


@pytest.mark.parametrize("cls", NODES + [Context, Conversion], ids=lambda c: c.__name__)
def test_mutable_objects_are_not_hashable(cls):
    with pytest.raises(TypeError):
        hash(_make(cls))


def test_span_is_an_immutable_hashable_value():
    span = ir.Span(3)
    assert (span.line, span.column, span.end_line) == (3, 1, 3)  # end_line 0: the same line
    assert ir.Span(3, 1, 0) == ir.Span(3, 1, 3) == span
    assert ir.Span(3, 2) != span and ir.Span(3, 1, 4) != span
    assert hash(ir.Span(3, 1, 3)) == hash(span)
    assert len({ir.Span(1), ir.Span(1, 1, 1), ir.Span(2)}) == 2
    assert repr(ir.Span(1)) == "Span(line=1, column=1, end_line=1)"
    assert span.__eq__((3, 1, 3)) is NotImplemented
    with pytest.raises(AttributeError):
        span.line = 4
    with pytest.raises(AttributeError):
        del span.column
    with pytest.raises(AttributeError):
        span.other = 1
    assert not hasattr(span, "__dict__")
    assert span == ir.Span(3)


def test_diagnostic_is_an_immutable_hashable_value():
    diagnostic = Diagnostic("D2S001", "lost", 4)
    assert diagnostic == Diagnostic("D2S001", "lost", 4, 1, "warning", None)
    assert diagnostic != Diagnostic("D2S001", "lost", 4, path="Dockerfile")
    assert hash(diagnostic) == hash(Diagnostic("D2S001", "lost", 4))
    assert len({diagnostic, Diagnostic("D2S001", "lost", 4), Diagnostic("D2S002", "lost", 4)}) == 2
    assert repr(diagnostic) == ("Diagnostic(code='D2S001', message='lost', line=4, column=1, severity='warning', "
                                "path=None)")
    with pytest.raises(AttributeError):
        diagnostic.message = "changed"
    with pytest.raises(AttributeError):
        del diagnostic.line
    assert diagnostic.format("Dockerfile") == "Dockerfile:4:1: warning[D2S001]: lost"


def test_context_and_conversion_compare_by_value():
    assert Context() == Context()
    assert Context(path="a") != Context(path="b")
    assert Conversion("x", [Diagnostic("D2S001", "m", 1)]) == Conversion("x", [Diagnostic("D2S001", "m", 1)])
    assert Conversion("x") != Conversion("y")
    assert repr(Conversion("x")) == "Conversion(definition='x', diagnostics=[])"
    assert repr(Context()).startswith("Context(path='Dockerfile', context_dir=None, build_args={}, ")
    context = Context()
    context.warn("D2S001", "m", 2)
    assert context.diagnostics == [Diagnostic("D2S001", "m", 2, 1, "warning", "Dockerfile")]


DOCKERFILE = """\
ARG BASE=alpine
FROM $BASE AS build
RUN --mount=type=cache,target=/c <<EOF
echo hi
EOF
COPY --from=build a b
ENV A=1 B=2
CMD ["sh"]
USER nobody
"""


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda tree: pickle.loads(pickle.dumps(tree))],
                         ids=["deepcopy", "pickle"])
def test_trees_copy_and_pickle_to_equal_trees(copier):
    tree = parse(DOCKERFILE)
    again = copier(tree)
    assert again == tree and again is not tree
    assert repr(again) == repr(tree)
    assert again.stages[0].instructions[0] is not tree.stages[0].instructions[0]
    diagnostic = Diagnostic("D2S001", "m", 1)
    assert copier(diagnostic) == diagnostic
    assert copier(ir.Span(1, 2, 3)) == ir.Span(1, 2, 3)


def test_record_constructors_take_every_field_in_order():
    # records.Record.__deepcopy__ makes a copy by calling the class with the copied field values.
    import inspect

    from dockerfile2def import check, deffile  # noqa: F401 (their records too)
    from dockerfile2def.records import Frozen, Record

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(Record):
        if cls is not Frozen:
            assert tuple(inspect.signature(cls.__init__).parameters)[1:] == cls._fields, cls


def test_convert_path_imports_neither_dataclasses_nor_hashlib():
    # Start-up cost of `d2s convert`: dataclasses pulls in inspect, hashlib initialises OpenSSL.
    code = ("import sys, dockerfile2def.ir, dockerfile2def.errors, dockerfile2def.conversion, dockerfile2def.emit, "
            "dockerfile2def.output; print(sorted(m for m in ('dataclasses', 'inspect', '_hashlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_digest_matches_hashlib():
    import hashlib

    from dockerfile2def.output import ownership, stamp

    body = "Bootstrap: docker\nFrom: alpine\n\u00e9\n"
    stamped = stamp("Dockerfile", body)
    assert "# d2s-digest: sha256:%s\n" % hashlib.sha256(body.encode("utf-8")).hexdigest() in stamped
    assert ownership(stamped) == "generated"
    assert ownership(stamped + "edit\n") == "edited"
