"""The security battery's fixtures: organization B as it can reach A, and everything the project logs."""

import io
import logging
from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.tests.helpers import signed_in
from synthesis.tests.helpers import api
from voicehub_site.testing import verified_user


@dataclass
class Outsiders:
    """Organization B (Globex, charlie's) with each kind of credential it has: a key, its owner, a member."""

    key: APIClient
    owner: Client
    member: Client

    def for_route(self, *, api: bool) -> dict[str, Client]:
        """The roles that can call a route: a key only calls the API; a session calls both."""
        roles = {"B's owner (session)": self.owner, "B's member (session)": self.member}
        return {"B's API key": self.key, **roles} if api else roles


@pytest.fixture
def dana(cast):
    """A member (not an admin) of Globex, charlie's organization."""
    user = verified_user("dana@globex.test", "Dana")
    Membership.objects.create(organization=cast.org_b, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsiders(cast, dana) -> Outsiders:
    return Outsiders(key=api(cast.key(cast.charlie)), owner=signed_in(cast.charlie), member=signed_in(dana))


class LogOutput:
    """What the project's log handlers wrote, formatted by their own formatters."""

    def __init__(self):
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@pytest.fixture
def log_output():
    """Everything settings.LOGGING's handlers write during the test, at DEBUG, into one buffer.

    The handlers stay the configured ones (their formatters, their loggers); only their stream
    is swapped. pytest's own capture handlers are of other classes and are left alone.
    """
    root = logging.getLogger()
    handlers = [handler for handler in root.handlers if type(handler) is logging.StreamHandler]
    assert handlers, "settings.LOGGING puts a StreamHandler on the root logger"
    output = LogOutput()
    streams = [handler.setStream(output.stream) for handler in handlers]
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        root.setLevel(level)
        for handler, stream in zip(handlers, streams):
            handler.setStream(stream)
