"""Rewrite passes over the IR, in the order they run.

Each pass is a function ``(Dockerfile, Context) -> Dockerfile`` in a module of its own, named for
what it does. They run in the order of ``PASSES``; each may rely on the ones before it.
"""

from ..conversion import Context
from ..ir import Dockerfile

PASSES = ()


def run_passes(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    for rewrite in PASSES:
        dockerfile = rewrite(dockerfile, ctx)
    return dockerfile
