"""Rewrite passes over the IR, in the order they run.

Each pass is a function ``(Dockerfile, Context) -> Dockerfile`` in a module of its own, named for
what it does. They run in the order of ``PASSES``; each may rely on the ones before it.
"""

import copy

from ..conversion import Context
from ..ir import Dockerfile
from .expand_variables import expand_variables
from .plan_copies import plan_copies
from .record_metadata import record_metadata
from .resolve_global_args import resolve_global_args
from .resolve_runtime import resolve_runtime
from .resolve_shell import resolve_shell
from .resolve_workdir import resolve_workdir
from .select_stages import select_stages
from .translate_run import translate_run

PASSES = (
    resolve_global_args,  # global ARGs and --build-arg; expand FROM
    select_stages,  # --target, needed stages only, FROM <stage> replayed
    expand_variables,  # builder-side expansion with ARG/ENV scope
    resolve_workdir,  # WORKDIR chain, USER, absolute COPY destinations
    resolve_shell,  # SHELL in effect for shell forms
    translate_run,  # heredoc RUNs rebuilt; --mount/--network weighed
    resolve_runtime,  # ENTRYPOINT x CMD, final WORKDIR/USER/ENV/labels
    plan_copies,  # COPY/ADD sources resolved and staged
    record_metadata,  # EXPOSE/VOLUME/HEALTHCHECK/... recorded, warned
)


def run_passes(dockerfile: Dockerfile, ctx: Context, in_place: bool = False) -> Dockerfile:
    """Run every pass. They rewrite the tree in place: a copy is taken first, so the caller's tree stays as
    parsed, unless ``in_place`` says the caller has no further use for it."""
    if not in_place:
        dockerfile = copy.deepcopy(dockerfile)
    for rewrite in PASSES:
        dockerfile = rewrite(dockerfile, ctx)
    return dockerfile
