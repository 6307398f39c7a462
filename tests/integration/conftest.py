"""Fixtures every integration test module may use."""

from usernet_fixtures import bridge, service  # noqa: F401 - registered as fixtures
from userns_fixtures import unpriv_user, workdir  # noqa: F401 - registered as fixtures
