"""The classes of check.py and deffile.py: plain classes that behave as the dataclasses they were.

Importing ``dataclasses`` (and ``inspect`` with it) and generating their methods cost every `d2s check`
start-up time, so they are written out by hand. These tests hold them to what the dataclasses did:
the constructor's parameters (names, order, defaults), fresh lists and dicts per object, value
equality, the repr, no hashing; and to what `d2s check` needs: no dataclasses or inspect at import.
"""

import copy
import dataclasses
import inspect
import pickle
import subprocess
import sys

import pytest

from dockerfile2def import check, deffile
from dockerfile2def.check import FileReport, Finding, Fix
from dockerfile2def.deffile import parse_definition

DEFFILE_CLASSES = [deffile.Problem, deffile.HeaderEntry, deffile.FileEntry, deffile.LabelEntry,
                   deffile.ArgumentEntry, deffile.BodyLine, deffile.Section, deffile.Placeholder, deffile.Stage,
                   deffile.Definition]
CHECK_CLASSES = [Fix, Finding, FileReport]
CLASSES = DEFFILE_CLASSES + CHECK_CLASSES

# The constructors as the dataclasses had them, a ``default_factory`` written as None. The parser and
# the checks pass most arguments by position, so the order is part of the interface.
SIGNATURES = {
    "Problem": "code, message, line, column=1",
    "HeaderEntry": "key, value, line, column, value_column, raw_key='', end_line=0, comment='', comment_column=0",
    "FileEntry": "src, dst, line, column, src_token='', dst_token='', dst_column=0, extra=0",
    "LabelEntry": "key, value, line, column",
    "ArgumentEntry": "key, value, line, column, text=''",
    "BodyLine": "line, text",
    "Section": "name, kind, line, column, header_text, args=None, app=None, body=None, files=None, labels=None, "
               "arguments=None",
    "Placeholder": "name, line, column, text, commented=False, defined=False",
    "Stage": "index, line, end_line, entries=None, sections=None, placeholders=None, defaults=None, templated=False",
    "Definition": "path, text, lines, stages=None, problems=None, bom=False",
    "Fix": "edits",
    "Finding": "code, message, line, column=1, severity='', fix=None",
    "FileReport": "path, findings=None, fixed=None, unreadable=None",
}

# The fields that were ``field(default_factory=...)``, and what the factory made.
FACTORY_FIELDS = {
    "Section": {"body": list, "files": list, "labels": list, "arguments": list},
    "Stage": {"entries": list, "sections": list, "placeholders": list, "defaults": dict},
    "Definition": {"stages": list, "problems": list},
    "FileReport": {"findings": list, "fixed": list},
}


def _parameters(cls):
    return list(inspect.signature(cls).parameters.values())


def _signature(cls) -> str:
    return ", ".join(p.name if p.default is inspect.Parameter.empty else "%s=%r" % (p.name, p.default)
                     for p in _parameters(cls))


def _required(cls) -> list:
    """A distinct placeholder for every required argument of ``cls``."""
    return ["<%s>" % p.name for p in _parameters(cls) if p.default is inspect.Parameter.empty]


def _make(cls):
    return cls(*_required(cls))


def _reference_dataclass(cls):
    """The dataclass ``cls`` was, rebuilt from its pinned fields: what equality and repr must match."""
    factories = FACTORY_FIELDS.get(cls.__name__, {})
    specs = []
    for p in _parameters(cls):
        if p.default is inspect.Parameter.empty:
            specs.append((p.name, object))
        elif p.name in factories:
            specs.append((p.name, object, dataclasses.field(default_factory=factories[p.name])))
        else:
            specs.append((p.name, object, dataclasses.field(default=p.default)))
    namespace = {}
    if cls is Finding:
        def __post_init__(self):  # what Finding's dataclass did after __init__
            if not self.severity:
                self.severity = check.CHECK_CODES.get(self.code, ("warning", ""))[0]
        namespace["__post_init__"] = __post_init__
    return dataclasses.make_dataclass(cls.__name__, specs, namespace=namespace)


def test_every_class_has_a_pinned_signature():
    assert sorted(SIGNATURES) == sorted(c.__name__ for c in CLASSES)
    # nothing in either module is a dataclass any more, and no class was missed
    for module in (check, deffile):
        assert not hasattr(module, "dataclass")
        classes = [c for c in vars(module).values()
                   if isinstance(c, type) and c.__module__ == module.__name__ and hasattr(c, "_fields")
                   and c.__name__ != "_Record"]
        expected = [c.__name__ for c in CLASSES if c.__module__ == module.__name__]
        assert sorted(c.__name__ for c in classes) == sorted(expected)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_parameters_are_the_fields_in_order(cls):
    assert _signature(cls) == SIGNATURES[cls.__name__]
    assert tuple(p.name for p in _parameters(cls)) == cls._fields == cls.__match_args__
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in _parameters(cls))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_are_fresh_per_object(cls):
    first, second = _make(cls), _make(cls)
    assert first == second
    for name, factory in FACTORY_FIELDS.get(cls.__name__, {}).items():
        value = getattr(first, name)
        assert value == factory() and type(value) is factory
        assert value is not getattr(second, name), "%s.%s shared between two objects" % (cls.__name__, name)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_equality_and_repr_are_the_dataclass_ones(cls):
    reference = _reference_dataclass(cls)
    ours, theirs = _make(cls), reference(*_required(cls))
    assert repr(ours) == repr(theirs)
    # every field, by position, as the parser passes them
    values = ["<%s>" % name for name in cls._fields]
    assert repr(cls(*values)) == repr(reference(*values))
    assert cls(*values) == cls(*values)
    for changed in range(len(values)):
        other = list(values)
        other[changed] = "<other>"
        assert cls(*values) != cls(*other)
    # same fields, another class (even the dataclass it was): not equal, as with dataclasses
    assert ours != theirs and ours.__eq__(theirs) is NotImplemented
    assert ours.__eq__(tuple(getattr(ours, name) for name in cls._fields)) is NotImplemented


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_objects_are_mutable_unhashable_and_slotted(cls):
    obj = _make(cls)
    with pytest.raises(TypeError):
        hash(obj)
    name = cls._fields[-1]
    setattr(obj, name, "<changed>")
    assert getattr(obj, name) == "<changed>"
    assert not hasattr(obj, "__dict__")
    with pytest.raises(AttributeError):
        obj.not_a_field = 1


def test_finding_takes_its_severity_from_the_code():
    assert Finding("D2S200", "m", 1).severity == "error"
    assert Finding("D2S220", "m", 1).severity == "warning"
    assert Finding("D2S999", "m", 1).severity == "warning"  # unknown code
    assert Finding("D2S220", "m", 1, severity="error").severity == "error"
    assert Finding("D2S200", "m", 1, 1, "").severity == "error"
    finding = Finding("D2S200", "m", 3, 2, fix=Fix({3: ["x"]}))
    assert finding == Finding("D2S200", "m", 3, 2, "error", Fix({3: ["x"]}))
    assert finding != Finding("D2S200", "m", 3, 2, "error", Fix({3: ["y"]}))
    assert repr(finding) == ("Finding(code='D2S200', message='m', line=3, column=2, severity='error', "
                             "fix=Fix(edits={3: ['x']}))")
    assert finding.diagnostic("a.def").format() == "a.def:3:2: error[D2S200]: m"


def test_definition_properties_and_problem():
    definition = deffile.Definition("a.def", "", [])
    definition.problem("D2S200", "no stage", 1)
    assert definition.problems == [deffile.Problem("D2S200", "no stage", 1, 1)]
    stage = deffile.Stage(0, 1, 2, [deffile.HeaderEntry("stage", "one", 1, 1, 8),
                                    deffile.HeaderEntry("stage", "two", 2, 1, 8)])
    assert stage.name == "two" and stage.has_header and stage.bootstrap is None
    section = deffile.Section("post", "standard", 3, 1, "%post", "-c sh # x", body=[deffile.BodyLine(4, "echo")])
    assert (section.script, section.clean_args) == ("echo\n", "-c sh ")


DEFINITION = """\
Bootstrap: docker
From: alpine:3.19
Stage: build

%arguments
    GREETING=hi

%files
    a.txt /opt/a.txt

%labels
    Author someone

%post
    echo {{ GREETING }}

%appinstall tool
    echo tool
"""


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda tree: pickle.loads(pickle.dumps(tree))],
                         ids=["deepcopy", "pickle"])
def test_parsed_definitions_copy_and_pickle_to_equal_ones(copier):
    definition = parse_definition(DEFINITION, "a.def")
    assert definition == parse_definition(DEFINITION, "a.def")
    assert definition != parse_definition(DEFINITION + "# more\n", "a.def")
    again = copier(definition)
    assert again == definition and again is not definition
    assert repr(again) == repr(definition)
    assert again.stages[0].sections[0] is not definition.stages[0].sections[0]
    report = FileReport("a.def", check.check_definition(DEFINITION, "a.def"))
    assert copier(report) == report


def test_check_imports_neither_dataclasses_nor_inspect():
    # Start-up cost of `d2s check`, a pre-commit hook: dataclasses pulls in inspect.
    code = ("import dockerfile2def.check, dockerfile2def.deffile; import sys; "
            "print('dataclasses' in sys.modules, 'inspect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
