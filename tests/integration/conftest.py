"""Fixtures every integration test module may use."""

from userns_fixtures import unpriv_user, workdir  # noqa: F401 - registered as fixtures
