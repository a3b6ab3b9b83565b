"""The differential tests: every fixture under fixtures/build/, built by buildah (ground truth) and by
`d2s build --fakeroot`, must look and behave the same through Apptainer (see harness.py for how).

A fixture whose probes.json names a ``d2s_gap`` is a known converter gap: it is expected to fail
(strict xfail, so it turns into a failure the day the converter closes the gap, and the mark must go).
Harness errors (a tool failing where it must not) are never counted as the expected failure."""

import pytest

from .harness import HarnessError, all_fixtures, report


def _cases():
    cases = []
    for fixture in all_fixtures():
        if fixture.spec.get("definition"):
            continue  # the harness self-test (test_harness.py)
        marks = []
        if fixture.spec.get("d2s_gap"):
            marks.append(pytest.mark.xfail(strict=True, raises=AssertionError,
                                           reason="converter gap: " + fixture.spec["d2s_gap"]))
        cases.append(pytest.param(fixture, id=fixture.name, marks=marks))
    return cases


@pytest.mark.parametrize("fixture", _cases())
def test_d2s_image_behaves_like_the_docker_image(fixture, toolchain):
    try:
        truth = toolchain.ground_truth(fixture)
    except HarnessError as err:
        pytest.fail("ground truth: %s" % err, pytrace=False)
    built = toolchain.build_with_d2s(fixture)
    assert built.sif, built.failure()
    differences = toolchain.compare(fixture, truth, toolchain.observe(fixture, built.sif))
    assert not differences, report(fixture, truth, differences, built)
