import pytest

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


@pytest.fixture
def visitor(client):
    """The test client as a person's browser (a bare client has no user agent, and counts as a bot)."""
    client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    return client
