"""Integration tests: real Apptainer, buildah and the loopback registry.

Every test in this folder is marked ``integration``. The fixtures below find the tools; where one is
missing the test is skipped with the reason (never passed). With ``D2S_REQUIRE_INTEGRATION=1`` (as
.ci/run sets it) a missing tool is an error instead: CI must not go green without these tests.
"""

import os
import shutil
from pathlib import Path

import pytest

from .harness import REGISTRY, Toolchain, registry_has, registry_up

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def missing(reason: str):
    """Skip (or, when CI requires the integration tests, fail) with ``reason``."""
    if os.environ.get("D2S_REQUIRE_INTEGRATION", "") not in ("", "0"):
        pytest.fail("integration toolchain required (D2S_REQUIRE_INTEGRATION) but " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def apptainer():
    """The Apptainer/Singularity binary the tests use (the first on PATH)."""
    for name in ("apptainer", "singularity"):
        path = shutil.which(name)
        if path:
            return path
    missing("no apptainer or singularity on PATH (run ../shared/tools/setup-toolchain)")


@pytest.fixture(scope="session")
def buildah():
    path = shutil.which("buildah")
    if not path:
        missing("no buildah on PATH (run ../shared/tools/setup-toolchain)")
    return path


@pytest.fixture(scope="session")
def registry():
    """The registry address ($D2S_TEST_REGISTRY, default 127.0.0.1:5000), checked to be up and seeded."""
    if not registry_up(REGISTRY):
        missing("no registry answering at %s ($D2S_TEST_REGISTRY; run ../shared/tools/registry start)" % REGISTRY)
    if not registry_has(REGISTRY, "busybox", "latest"):
        missing("%s has no busybox:latest (run ../shared/tools/seed-base-images)" % REGISTRY)
    return REGISTRY


@pytest.fixture(scope="session")
def toolchain(apptainer, buildah, registry, tmp_path_factory):
    """Everything the differential harness needs, with per-session caches (base images, ground truths)."""
    chain = Toolchain(apptainer=apptainer, buildah=buildah, registry=registry,
                      work=tmp_path_factory.mktemp("harness"))
    yield chain
    chain.close()


@pytest.fixture(scope="session")
def engine_only(apptainer, registry):
    """Apptainer and a seeded registry, for tests that build .def files without buildah."""
    return apptainer
