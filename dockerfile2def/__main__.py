"""Entry point of the `d2s` console script, and the `convert` command that must start fast.

`d2s convert` is run from scripts, Makefiles and editors, file after file, so its start-up counts.
The typer app (cli.py) is the CLI: it declares ``convert`` from the parameter table below and owns
help, usage errors and every other command. A plain ``convert`` invocation -- only the options of
that table, well formed -- is read straight from the same table without importing typer, click or
rich (about 30 ms). Anything else, and any usage error the command finds before it has done
anything, goes to the typer app, which parses the argv again and reports it as it always does.
"""

import os
import sys
from typing import Any, Dict, List, Optional

from .errors import D2SError


class Param:
    """One parameter of a command: its Python name, type, option names (none: an argument), default and help."""

    __slots__ = ("name", "annotation", "decls", "default", "help")

    def __init__(self, name: str, annotation: Any, decls: tuple, default: Any, help: str):
        self.name = name
        self.annotation = annotation
        self.decls = decls  # click-style declarations: "--force", or "--strict/--no-strict"
        self.default = default
        self.help = help

    @property
    def multiple(self) -> bool:
        return self.annotation == Optional[List[str]]

    @property
    def is_flag(self) -> bool:
        return self.annotation is bool

    def typer_default(self):
        """The typer.Argument or typer.Option declaring this parameter (imports typer: for cli.py only)."""
        import typer

        if not self.decls:
            return typer.Argument(self.default, help=self.help)
        return typer.Option(self.default, *self.decls, help=self.help)


# `d2s convert`: cli.py declares the typer command from this table, and main() reads plain invocations with it.
CONVERT_PARAMS = (
    Param("dockerfile", str, (), "Dockerfile", "The Dockerfile to convert ('-' reads stdin)."),
    Param("output", Optional[str], (), None, "Where to write the .def (default: stdout)."),
    Param("build_arg", Optional[List[str]], ("--build-arg",), None, "K=V, as docker build takes it."),
    Param("target", Optional[str], ("--target",), None, "Convert up to this stage."),
    Param("context", Optional[str], ("--context",), None, "Build context folder (default: the Dockerfile's)."),
    Param("strict", bool, ("--strict/--no-strict",), False, "Fail (exit 1) on any warning, and write nothing."),
    Param("check", bool, ("--check",), False, "Exit 1 with a diff if OUTPUT is not what d2s writes now."),
    Param("diff", bool, ("--diff",), False, "Show the diff against OUTPUT instead of writing it."),
    Param("fmt", str, ("--format",), "text", "Diagnostics format: text or json."),
    Param("force", bool, ("--force",), False, "Overwrite OUTPUT even if d2s did not write it."),
    Param("offline", bool, ("--offline",), False, "No network: no base image configs from registries, no ADD <url> downloads when converting."),
)

# `d2s check`, likewise: typer and the pydantic it loads take a third of a second to import, which
# every pre-commit run of `d2s check` paid before it read a single file.
CHECK_PARAMS = (
    Param("paths", Optional[List[str]], (), None, "Definition files and Dockerfiles (default: .)."),
    Param("against", Optional[str], ("--against",), None, "The .def a Dockerfile must match."),
    Param("fmt", str, ("--format",), "text", "text, json or sarif."),
    Param("strict", bool, ("--strict",), False, "Warnings fail too (exit 1)."),
    Param("fix", bool, ("--fix",), False, "Rewrite findings that have a safe mechanical fix."),
)


def declare(params):
    """Give a ``def command(**options)`` the signature typer reads its parameters from."""
    import inspect

    def apply(func):
        func.__signature__ = inspect.Signature(
            [
                inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.typer_default(), annotation=p.annotation)
                for p in params
            ]
        )
        func.__annotations__ = dict({p.name: p.annotation for p in params}, **{"return": None})
        return func

    return apply


class UsageError(Exception):
    """Bad usage found by a command; the typer app shows it as click's usage error (exit 2)."""

    def __init__(self, message: str, param_hint: str):
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


def build_args(pairs: Optional[List[str]]) -> Dict[str, str]:
    """``--build-arg`` values as docker build reads them: K=V, or a bare K taken from the environment."""
    args = {}
    for pair in pairs or []:
        if "=" in pair:
            key, value = pair.split("=", 1)
        else:
            # Docker takes a bare --build-arg NAME from the environment.
            key, value = pair, os.environ.get(pair)
            if value is None:
                continue
        if not key:
            raise UsageError("build arg %r has no name" % pair, "--build-arg")
        args[key] = value
    return args


def report(diagnostics, fmt: str, path: str, stream=None) -> None:
    stream = stream or sys.stderr
    if fmt == "json":
        import json

        json.dump({"diagnostics": [d.as_dict(path) for d in diagnostics]}, stream, indent=2)
        stream.write("\n")
    else:
        for d in diagnostics:
            stream.write(d.format(path) + "\n")


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise D2SError("no such file", 1, 1, path)
    except IsADirectoryError:
        raise D2SError("is a directory, not a Dockerfile", 1, 1, path)
    except PermissionError:
        raise D2SError("permission denied", 1, 1, path)


def convert_command(
    dockerfile: str,
    output: Optional[str],
    build_arg: Optional[List[str]],
    target: Optional[str],
    context: Optional[str],
    strict: bool,
    check: bool,
    diff: bool,
    fmt: str,
    force: bool,
    offline: bool,
) -> int:
    """`d2s convert`: returns the exit status; raises D2SError for bad input, UsageError for bad usage."""
    from .conversion import convert as run_convert, decode_source
    from .output import may_overwrite, stamp, write_atomic

    if fmt not in ("text", "json"):
        raise UsageError("must be text or json", "--format")
    if (check or diff) and not output:
        raise UsageError("needs an OUTPUT file to compare with", "--check/--diff")
    path = "<stdin>" if dockerfile == "-" else dockerfile
    writes = output not in (None, "-") and not (check or diff)
    if writes and not force:
        reason = may_overwrite(output)
        if reason:
            raise D2SError("refusing to overwrite %s: %s" % (output, reason), 1, 1, output)
    text = decode_source(read_input(dockerfile), path)
    if context is None:
        context = os.getcwd() if dockerfile == "-" else (os.path.dirname(os.path.abspath(dockerfile)))
    if not os.path.isdir(context):
        raise D2SError("build context is not a folder: %s" % context, 1, 1, path)
    result = run_convert(
        text,
        context=context,
        build_args=build_args(build_arg),
        target=target,
        path=path,
        lookup_base=not offline,
        own_outputs=[output] if output not in (None, "-") else [],
    )
    definition = stamp(os.path.basename(path), result.definition)
    report(result.diagnostics, fmt, path)
    if check or diff:
        import difflib

        try:
            with open(output, encoding="utf-8") as handle:
                current = handle.read()
        except (FileNotFoundError, UnicodeDecodeError):
            current = ""
        changes = list(
            difflib.unified_diff(
                current.splitlines(True), definition.splitlines(True), output + " (current)", output + " (d2s)"
            )
        )
        if changes:
            sys.stdout.writelines(changes)
        if check:
            if changes:
                sys.stderr.write("%s: would be changed by d2s convert\n" % output)
                return 1
            return 1 if strict and result.diagnostics else 0
        return 0
    if strict and result.diagnostics:
        sys.stderr.write("%s: %d warning(s) with --strict; nothing written\n" % (path, len(result.diagnostics)))
        return 1
    if not writes:
        sys.stdout.write(definition)
        return 0
    write_atomic(output, definition)
    return 0


def plain_invocation(argv: List[str], command: str, params) -> Optional[Dict[str, Any]]:
    """The keyword arguments of ``command`` when ``argv`` is a plain call of it, else None (typer's turn).

    Plain: the command name first, then only the table's options (``--name VALUE``, ``--name=VALUE``,
    flags and their ``--no-`` forms, repeatable lists) and at most as many arguments as it declares
    (any number for a list argument, which must be the only one), in any order, as click reads them. Help, ``--``, unknown options, values that look like options,
    a repeated single-valued option and extra arguments are all left to typer.
    """
    if not argv or argv[0] != command:
        return None
    options = {}  # "--name" -> (param, value a flag sets)
    for param in params:
        for decl in param.decls:
            for index, name in enumerate(decl.split("/")):
                options[name] = (param, index == 0)
    arguments = [p for p in params if not p.decls]
    values = {p.name: ([] if p.multiple else p.default) for p in params}
    seen = set()
    given = []
    rest = iter(argv[1:])
    for arg in rest:
        if arg[:1] != "-" or arg == "-":
            given.append(arg)
            continue
        name, equals, value = arg.partition("=")
        found = options.get(name)
        if found is None:
            return None
        param, flag_value = found
        if param.is_flag:
            if equals:
                return None
            value = flag_value
        elif not equals:
            value = next(rest, None)
            if value is None or (value[:1] == "-" and value != "-"):
                return None
        if param.multiple:
            values[param.name].append(value)
            continue
        if param.name in seen:
            return None
        seen.add(param.name)
        values[param.name] = value
    if len(arguments) == 1 and arguments[0].multiple:
        values[arguments[0].name] = given  # nargs=-1: all of them (none: the default, below)
    elif len(given) > len(arguments) or any(p.multiple for p in arguments):
        return None
    else:
        for param, value in zip(arguments, given):
            values[param.name] = value
    for param in params:
        if param.multiple and not values[param.name]:
            values[param.name] = param.default
    return values


def _fast_convert(options: Dict[str, Any]) -> Optional[int]:
    """Run a plain `d2s convert`; None when it is a usage error, which typer then reports."""
    try:
        build_args(options["build_arg"])  # checked up front so that nothing has happened when typer takes over
    except UsageError:
        return None
    return _outcome(lambda: convert_command(**options))


def _outcome(command) -> Optional[int]:
    """The exit status of a command run without typer; None for a usage error, left to typer."""
    try:
        return command()
    except UsageError:
        return None
    # The same outcomes as cli.run gives these.
    except D2SError as err:
        sys.stderr.write(str(err) + "\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("d2s: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1


def _fast_check(options: Dict[str, Any]) -> Optional[int]:
    """Run a plain `d2s check`; None when it is a usage error, which typer then reports."""
    from .check import check_command

    options["paths"] = list(options["paths"] or [])
    return _outcome(lambda: check_command(**options))


def main(argv=None) -> int:
    """The `d2s` program. With ``argv`` given (a caller in the same process) it returns the exit status;
    run as the program, a plain convert or check ends the process itself (:func:`_end`)."""
    program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    options = plain_invocation(argv, "convert", CONVERT_PARAMS)
    if options is not None:
        status = _fast_convert(options)
        if status is not None:
            return _end(status) if program else status
    options = plain_invocation(argv, "check", CHECK_PARAMS)
    if options is not None:
        status = _fast_check(options)
        if status is not None:
            return _end(status) if program else status
    from .cli import run

    return run(argv)


def _end(status: int) -> int:
    """Exit now, skipping the interpreter's teardown: freeing every module and object one by one took
    about 10 ms of each `d2s convert`. Every file d2s writes is closed by then; only the standard
    streams may still hold output."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away, as `d2s convert ... | head` may
        status = status or 1
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(status)


if __name__ == "__main__":
    # Run the package's module (not a second copy named __main__), so cli.py shares its classes.
    from dockerfile2def.__main__ import main as _main

    sys.exit(_main())
