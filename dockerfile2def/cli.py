"""The `d2s` command line: convert, build and check.

Exit status, for every command: 0 success (warnings allowed), 1 a failed --check/--strict or
findings at the failing level, 2 bad input or usage. Bad input is one line on stderr, never a
traceback.
"""

import difflib
import json
import os
import sys
from typing import List, Optional

import typer

from .errors import D2SError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="d2s: convert Dockerfiles into Singularity/Apptainer definition files, build and check them.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Exit(Exception):
    """Leave the command with this status (after its output has been written)."""

    def __init__(self, status: int):
        self.status = status


def _build_args(pairs: Optional[List[str]]) -> dict:
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
            raise typer.BadParameter("build arg %r has no name" % pair, param_hint="--build-arg")
        args[key] = value
    return args


def report(diagnostics, fmt: str, path: str, stream=None) -> None:
    stream = stream or sys.stderr
    if fmt == "json":
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


@app.callback()
def main() -> None:
    """d2s: Dockerfile -> Singularity/Apptainer definition files."""


@app.command()
def convert(
    dockerfile: str = typer.Argument("Dockerfile", help="The Dockerfile to convert ('-' reads stdin)."),
    output: Optional[str] = typer.Argument(None, help="Where to write the .def (default: stdout)."),
    build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", help="K=V, as docker build takes it."),
    target: Optional[str] = typer.Option(None, help="Convert up to this stage."),
    context: Optional[str] = typer.Option(None, help="Build context folder (default: the Dockerfile's)."),
    strict: bool = typer.Option(False, help="Fail (exit 1) on any warning, and write nothing."),
    check: bool = typer.Option(False, "--check", help="Exit 1 with a diff if OUTPUT is not what d2s writes now."),
    diff: bool = typer.Option(False, "--diff", help="Show the diff against OUTPUT instead of writing it."),
    fmt: str = typer.Option("text", "--format", help="Diagnostics format: text or json."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT even if d2s did not write it."),
    offline: bool = typer.Option(False, "--offline", help="Do not read base image configs from registries."),
) -> None:
    """Convert a Dockerfile into a definition file."""
    from .conversion import convert as run_convert, decode_source
    from .output import may_overwrite, stamp, write_atomic

    if fmt not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    if (check or diff) and not output:
        raise typer.BadParameter("needs an OUTPUT file to compare with", param_hint="--check/--diff")
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
        build_args=_build_args(build_arg),
        target=target,
        path=path,
        lookup_base=not offline,
    )
    definition = stamp(os.path.basename(path), result.definition)
    report(result.diagnostics, fmt, path)
    if check or diff:
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
                raise Exit(1)
            raise Exit(1 if strict and result.diagnostics else 0)
        raise Exit(0)
    if strict and result.diagnostics:
        sys.stderr.write("%s: %d warning(s) with --strict; nothing written\n" % (path, len(result.diagnostics)))
        raise Exit(1)
    if not writes:
        sys.stdout.write(definition)
        return
    write_atomic(output, definition)


@app.command("to-dockerfile")
def to_dockerfile(
    definition: str = typer.Argument(..., help="The definition file to turn back into a Dockerfile ('-' reads stdin)."),
    output: Optional[str] = typer.Argument(None, help="Where to write the Dockerfile (default: stdout)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT even if d2s did not write it."),
) -> None:
    """The reverse direction (.def -> Dockerfile), with spython's writer."""
    from .conversion import decode_source
    from .output import may_overwrite, write_atomic
    from .reverse import definition_to_dockerfile

    path = "<stdin>" if definition == "-" else definition
    text = definition_to_dockerfile(decode_source(read_input(definition), path), path)
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    if not force and os.path.exists(output):
        raise D2SError("refusing to overwrite %s (use --force)" % output, 1, 1, output)
    write_atomic(output, text)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def build(
    ctx: typer.Context,
    input: Optional[str] = typer.Argument(None, help="A Dockerfile (converted first) or a .def (default: ./Dockerfile)."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="The image to write (default: <folder>.sif)."),
    fakeroot: bool = typer.Option(False, "--fakeroot", help="Build with --fakeroot (no root needed)."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Build a sandbox folder instead of a SIF."),
    build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", help="K=V, as docker build takes it."),
    target: Optional[str] = typer.Option(None, help="Build up to this stage."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing image or .def."),
    engine: Optional[str] = typer.Option(None, "--engine", help="Apptainer/Singularity binary (else $D2S_ENGINE)."),
    offline: bool = typer.Option(False, "--offline", help="Do not read base image configs from registries."),
) -> None:
    """Convert (if needed) and build an image with Apptainer or Singularity. Arguments after -- go to the engine."""
    from .build import build_command

    raise Exit(
        build_command(
            input=input,
            output=output,
            fakeroot=fakeroot,
            sandbox=sandbox,
            build_args=_build_args(build_arg),
            target=target,
            force=force,
            engine=engine,
            offline=offline,
            extra=list(ctx.args),
        )
    )


@app.command()
def check(
    paths: Optional[List[str]] = typer.Argument(None, help="Definition files and Dockerfiles (default: .)."),
    against: Optional[str] = typer.Option(None, "--against", help="The .def a Dockerfile must match."),
    fmt: str = typer.Option("text", "--format", help="text, json or sarif."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 1)."),
    fix: bool = typer.Option(False, "--fix", help="Rewrite findings that have a safe mechanical fix."),
) -> None:
    """Check definition files and Dockerfiles for mistakes before they reach the cluster."""
    from .check import check_command

    raise Exit(check_command(paths=list(paths or []), against=against, fmt=fmt, strict=strict, fix=fix))


def _click_exceptions():
    try:  # typer >= 0.24 ships its own copy of click
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def run(argv: List[str]) -> int:
    """Run the CLI on ``argv`` and return the exit status."""
    errors = _click_exceptions()
    try:
        app(args=argv, prog_name="d2s", standalone_mode=False)
    except D2SError as err:
        sys.stderr.write(str(err) + "\n")
        return 2
    except Exit as done:
        return done.status
    except (getattr(errors, "Exit", typer.Exit), typer.Exit) as done:
        return getattr(done, "exit_code", 0)
    except errors.ClickException as err:
        err.show()
        return 2
    except (getattr(errors, "Abort", typer.Abort), typer.Abort, KeyboardInterrupt):
        sys.stderr.write("d2s: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    return 0
