"""Fixtures of voicehub_site's tests; the production server itself is in voicehub_site/testing.py."""

import pytest

from voicehub_site.tests.helpers import BROWSER_UA, parameterless_routes


@pytest.fixture(scope="session")
def routes(production_server):
    """Each parameterless route's answer to an anonymous visitor of the production server: {path: response}."""
    return {path: production_server.get(path, headers={"User-Agent": BROWSER_UA}) for path in parameterless_routes()}
