"""d2s: Dockerfile -> Singularity/Apptainer definition files.

The pipeline: parse (grammar/ + parser.py) -> IR (ir.py) -> passes (passes/) -> emit (emit.py),
then build (build.py) or check (check.py). Heavy modules load lazily so the CLI starts fast.
"""

from .errors import D2SError, Diagnostic

__version__ = "0.1.0"
__all__ = ["convert", "parse", "Conversion", "D2SError", "Diagnostic", "__version__"]


def __getattr__(name):
    # Lazy: importing the package must not compile the grammar or load the passes.
    if name in ("convert", "Conversion"):
        from . import conversion

        return getattr(conversion, name)
    if name == "parse":
        from .parser import parse

        return parse
    raise AttributeError(name)
