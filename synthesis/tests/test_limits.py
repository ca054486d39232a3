import pytest
from django.test import RequestFactory

from synthesis.services.limits import client_ip


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        (0, "1.1.1.1", "10.0.0.9"),  # no proxy configured: the header is the client's to forge
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),  # a forged entry left of ours is ignored
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.2", "1.1.1.1"),
        (2, "1.1.1.1", "10.0.0.9"),  # fewer entries than proxies: not from our proxies
        (1, "", "10.0.0.9"),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected
