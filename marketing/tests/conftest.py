import threading

import pytest

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


@pytest.fixture
def visitor(client):
    """The test client as a person's browser (a bare client has no user agent, and counts as a bot)."""
    client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    return client


class RecordedEvents:
    """The funnel events the server saves (post_save, in whatever thread serves the beacon)."""

    def __init__(self):
        self.events = []
        self.changed = threading.Condition()

    def saved(self, sender, instance, created, **kwargs):
        if created:
            with self.changed:
                self.events.append(instance)
                self.changed.notify_all()

    def wait_for(self, predicate, what: str, timeout: float = 20.0):
        """Block until predicate(events) is truthy and return it; the timeout only turns a lost beacon into a failure."""
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.events), timeout=timeout):
                raise AssertionError(f"the server never recorded {what}")
            return predicate(self.events)


@pytest.fixture
def funnel_events():
    """Wait for the page's beacons on the server's own signal instead of polling the database on the clock."""
    from django.db.models.signals import post_save

    from marketing.models import FunnelEvent

    recorded = RecordedEvents()
    post_save.connect(recorded.saved, sender=FunnelEvent, weak=False)
    yield recorded
    post_save.disconnect(recorded.saved, sender=FunnelEvent)
