"""The reverse direction, .def -> Dockerfile, through spython's parser and Docker writer.

d2s does not reimplement this: spython's line-based translation is what users know, and it is good
enough for a starting point. d2s adds what spython lacks: the input is read safely (one-line errors
for unreadable input) and the output is written atomically with the same overwrite protection as
``d2s convert``.
"""

import io
import os
import tempfile
from contextlib import redirect_stdout

from .errors import D2SError


def definition_to_dockerfile(text: str, path: str = "recipe.def") -> str:
    """A Dockerfile for the definition file ``text`` (spython's SingularityParser + DockerWriter)."""
    from spython.main.parse.parsers import SingularityParser
    from spython.main.parse.writers import DockerWriter

    if not text.strip():
        raise D2SError("empty definition file", 1, 1, path)
    # spython reads from a path; give it a private copy so the caller's file is never touched.
    fd, tmp = tempfile.mkstemp(suffix=".def")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        noise = io.StringIO()
        try:
            with redirect_stdout(noise):
                recipe = SingularityParser(tmp).recipe
                dockerfile = DockerWriter(recipe).convert()
            return dockerfile if dockerfile.endswith("\n") else dockerfile + "\n"
        except SystemExit:
            raise D2SError("spython could not read this definition file: %s" % noise.getvalue().strip(), 1, 1, path)
        except Exception as err:  # spython raises assorted errors on bad input
            raise D2SError("spython could not read this definition file: %s" % err, 1, 1, path)
    finally:
        os.unlink(tmp)


