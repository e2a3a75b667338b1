"""Vendors fetch inputs at signed, expiring addresses; members see only their team's."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations.assets.signed import SALT, signed_url

pytestmark = pytest.mark.django_db


def path_of(url):
    return urlsplit(url).path


def test_a_signed_address_serves_the_asset_without_a_session(picture, settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    url = signed_url(picture, timezone.now() + timedelta(minutes=5))
    assert url.startswith("https://studio.example.com/inputs/") and url.endswith(".png")
    response = Client().get(path_of(url))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == picture.file.open("rb").read()


def test_a_signed_address_honours_a_range(picture):
    url = signed_url(picture, timezone.now() + timedelta(minutes=5))
    response = Client().get(path_of(url), HTTP_RANGE="bytes=0-7")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == b"\x89PNG\r\n\x1a\n"


def test_a_tampered_address_is_a_404(picture):
    url = path_of(signed_url(picture, timezone.now() + timedelta(minutes=5)))
    token = url.rsplit("/", 1)[1]
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert Client().get(url.replace(token, flipped)).status_code == 404
    assert Client().get(url.replace(".png", ".jpg")).status_code == 404


def test_an_expired_address_is_a_404(picture):
    url = signed_url(picture, timezone.now() - timedelta(seconds=1))
    assert Client().get(path_of(url)).status_code == 404


def test_a_token_signed_for_anything_else_is_a_404(picture):
    until = int((timezone.now() + timedelta(minutes=5)).timestamp())
    other = signing.dumps([picture.uuid.hex, until], compress=False)  # the default salt
    assert Client().get(reverse("asset_signed", args=[other + ".png"])).status_code == 404
    mine = signing.dumps([picture.uuid.hex, until], salt=SALT, compress=False)
    assert Client().get(reverse("asset_signed", args=[mine + ".png"])).status_code == 200


def test_an_address_of_a_deleted_asset_is_a_404(picture):
    url = signed_url(picture, timezone.now() + timedelta(minutes=5))
    picture.delete_unless_in_use()
    assert Client().get(path_of(url)).status_code == 404


def test_the_address_lists_nothing(picture):
    assert Client().get("/inputs/").status_code == 404


def test_another_team_never_sees_an_asset(picture, outsider_client, member_client):
    for name in ("asset_file", "asset_thumbnail"):
        assert member_client.get(reverse(name, args=[picture.uuid])).status_code == 200
        assert outsider_client.get(reverse(name, args=[picture.uuid])).status_code == 404
    library = reverse("asset_library", args=[picture.project.uuid])
    assert outsider_client.get(library).status_code == 404
    assert outsider_client.post(reverse("asset_delete", args=[picture.uuid])).status_code == 404
    assert "still.png" in member_client.get(library).content.decode()
