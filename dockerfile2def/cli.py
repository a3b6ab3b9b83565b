"""The `d2s` command line: convert, build and check.

Exit status, for every command: 0 success (warnings allowed), 1 a failed --check/--strict or
findings at the failing level, 2 bad input or usage. Bad input is one line on stderr, never a
traceback.
"""

import os
import sys
from typing import List, Optional

import typer

# The convert command and the helpers it shares live in __main__, which runs plain `d2s convert`
# invocations without importing typer; this app declares convert from the same parameter table.
from .__main__ import CHECK_PARAMS, CONVERT_PARAMS, UsageError, build_args, convert_command, declare, read_input, report
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
    try:
        return build_args(pairs)
    except UsageError as err:
        raise typer.BadParameter(err.message, param_hint=err.param_hint)


@app.callback()
def main() -> None:
    """d2s: Dockerfile -> Singularity/Apptainer definition files."""


@app.command()
@declare(CONVERT_PARAMS)
def convert(**options) -> None:
    """Convert a Dockerfile into a definition file."""
    try:
        status = convert_command(**options)
    except UsageError as err:
        raise typer.BadParameter(err.message, param_hint=err.param_hint)
    if status:
        raise Exit(status)


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
    offline: bool = typer.Option(
        False, "--offline",
        help="No network: no base image configs from registries, no ADD <url> downloads when converting."),
) -> None:
    """Convert (if needed) and build an image with Apptainer or Singularity. Arguments after -- go to the engine."""
    from .build import build_command

    extra = list(ctx.args)
    if input is not None and input.startswith("-") and input != "-" and not os.path.exists(input):
        # `d2s build -- --notest`: click takes the first word after -- as INPUT; it is the engine's.
        extra.insert(0, input)
        input = None
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
            extra=extra,
        )
    )


@app.command()
@declare(CHECK_PARAMS)
def check(paths, against, fmt, strict, fix) -> None:
    """Check definition files and Dockerfiles for mistakes before they reach the cluster."""
    from .check import check_command

    try:
        status = check_command(paths=list(paths or []), against=against, fmt=fmt, strict=strict, fix=fix)
    except UsageError as err:
        raise typer.BadParameter(err.message, param_hint=err.param_hint)
    raise Exit(status)


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
