"""The smoke test's judgement and the candidate image check, pure: no Docker, no HTTP."""

from __future__ import annotations

import pytest

from pytest_athalia._http import Answer
from pytest_athalia.release._candidate_image import FakeImageLookup, candidate_image_problem
from pytest_athalia.release._release import Candidate
from pytest_athalia.release._smoke import judge_path, status_matches


def answer(status: int | None) -> Answer:
    return Answer("http://x/p", status, 1.0, error="" if status else "ConnectionError")


@pytest.mark.parametrize(
    ("status", "expect", "matches"),
    [
        (200, ("2xx",), True),
        (204, ("200",), False),
        (308, ("2xx",), False),
        (308, ("2xx", "308"), True),
        (None, ("2xx",), False),
        (404, ("4xx",), True),
    ],
)
def test_status_matches_codes_and_classes(status: int | None, expect: tuple[str, ...], matches: bool) -> None:
    """A status matches a listed code exactly or a listed class by its first digit; no answer matches nothing."""
    assert status_matches(status, expect) is matches


def test_redirect_where_live_answers_200_fails_naming_path_statuses_and_fix() -> None:
    """308 on green where blue answers 200: not ok, the live version is fine, the text names both and the fix."""
    judged = judge_path(
        "/health", live=answer(200), candidate=answer(308), live_color="blue", color="green", expect=("2xx",)
    )
    assert (judged.ok, judged.live_fails) == (False, False)
    assert "GET /health on green answered 308 where blue (live) answers 200" in judged.detail
    assert "rollout.smoke.expect_status" in judged.detail


def test_same_class_as_live_passes_and_a_listed_redirect_still_needs_the_live_class() -> None:
    """204 beside 200 passes under 2xx; a 308 listed in expect_status still fails while blue answers 2xx."""
    ok = judge_path("/v", live=answer(200), candidate=answer(204), live_color="blue", color="green", expect=("2xx",))
    assert ok.ok
    moved = judge_path(
        "/v", live=answer(200), candidate=answer(308), live_color="blue", color="green", expect=("2xx", "308")
    )
    assert not moved.ok


def test_live_version_outside_the_expectation_is_no_fault_of_the_candidate() -> None:
    """Blue answering 404 where 2xx is expected: live_fails, whatever green answers."""
    judged = judge_path(
        "/x", live=answer(404), candidate=answer(404), live_color="blue", color="green", expect=("2xx",)
    )
    assert (judged.ok, judged.live_fails) == (False, True)
    assert judged.detail.startswith("GET /x on blue (live) answered 404, expected 2xx; green answered 404")


def test_expect_live_compares_classes_only() -> None:
    """With `live`, 308 beside 301 passes, 200 beside 301 fails, and a live version with no answer fails closed."""

    def judged(live: int | None, candidate: int | None) -> tuple[bool, bool]:
        j = judge_path(
            "/h", live=answer(live), candidate=answer(candidate), live_color="blue", color="green", expect="live"
        )
        return j.ok, j.live_fails

    assert judged(301, 308) == (True, False)
    assert judged(301, 200) == (False, False)
    assert judged(None, 200) == (False, True)


def test_image_present_locally_or_pullable_is_fine_and_no_image_asks_nothing() -> None:
    """A local image, a registry image and the service's own image (None) need no fix."""
    lookup = FakeImageLookup(local={"a:1"}, registry={"r/b:2"})
    assert candidate_image_problem([Candidate("c", "a:1"), Candidate("d", "r/b:2"), Candidate("e")], lookup) is None
    assert lookup.asked == ["present a:1", "present r/b:2", "pullable r/b:2"]


def test_missing_image_names_the_image_its_source_and_the_fix() -> None:
    """Neither local nor in the registry: one paragraph with the image, where it came from, and how to fix it."""
    candidate = Candidate(
        "rollout.candidate", "nope:1", image_source="the environment variable ATHALIA_CANDIDATE_IMAGE"
    )
    problem = candidate_image_problem([candidate], FakeImageLookup())
    assert problem is not None
    assert problem.startswith(
        "athalia: the candidate image 'nope:1' (from the environment variable ATHALIA_CANDIDATE_IMAGE) is not "
        "present locally and cannot be pulled (docker manifest inspect: no such manifest). Nothing was started."
    )
    assert "set the environment variable ATHALIA_CANDIDATE_IMAGE to an image that exists" in problem


def test_unreachable_registry_is_no_proof_the_image_exists() -> None:
    """Fail closed: a registry that does not answer refuses the image, saying it could not be confirmed."""
    problem = candidate_image_problem([Candidate("drill x", "r/c:3")], FakeImageLookup(unreachable=True))
    assert problem is not None
    assert "could not be confirmed pullable (docker manifest inspect: the registry did not answer)" in problem
