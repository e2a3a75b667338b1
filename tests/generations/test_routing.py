"""Routing among accounts a caller has already read."""

import pytest

from generations import routing
from generations.vendors import VideoRequest
from tests.generations.factories import VendorAccountFactory

pytestmark = pytest.mark.django_db


def test_routing_among_accounts_already_read_keeps_to_the_pinned_one(team):
    """The Generate form passes the enabled accounts it read; a pinned account still
    routes alone, as when route reads them itself."""
    first = VendorAccountFactory(protocol="kinovi", label="First")
    second = VendorAccountFactory(protocol="kinovi", label="Second")
    request = VideoRequest(family="seedance-2.0", prompt="A kite over the dunes")
    given = routing.route(team, request, second, accounts=[first, second])
    assert [r.account for r in given.routes] == [second]
    assert [r.account for r in routing.route(team, request, second).routes] == [second]
