"""Bodies too big or too deep for the server are JSON errors, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_body_over_the_upload_limit_is_a_json_413(member_api, project):
    body = '{"name": "n", "csv": "' + "é" * 2_000_000 + '"}'
    response = member_api.client.post(
        "/api/v1/batches", body, content_type="application/json", headers=member_api.headers
    )
    assert response.status_code == 413, response.content[:300]
    assert response.json()["code"] == "too_large"


def test_deeply_nested_json_is_a_json_error(member_api, project):
    body = '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = member_api.client.post(
        "/api/v1/generations", body, content_type="application/json", headers=member_api.headers
    )
    assert response.status_code in (400, 422), response.content[:300]
    assert response.json()["code"]
