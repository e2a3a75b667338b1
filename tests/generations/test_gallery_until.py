"""The gallery's "until" filter at the last day a date can name."""

import pytest


@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-30"])
def test_the_gallery_takes_the_last_days_a_date_can_name(member_client, until):
    response = member_client.get("/gallery/", {"until": until})
    assert response.status_code == 200
