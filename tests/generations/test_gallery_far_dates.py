import pytest

pytestmark = pytest.mark.django_db


def test_the_gallery_takes_the_last_day_of_the_calendar(member_client):
    response = member_client.get("/gallery/", {"until": "9999-12-31"})
    assert response.status_code == 200
