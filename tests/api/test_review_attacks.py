"""An adversary's requests: other teams' ids in filters, hostile bodies and CSVs. Every
answer is JSON with a code, a message and a field; none is a 500."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.test_batches import HEADER, shot_list
from tests.generations.conftest import PROMPT

pytestmark = pytest.mark.django_db


def assert_json_error(response, status, field="__any__"):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) >= {"code", "message", "field"}
    if field != "__any__":
        assert body["field"] == field


@pytest.mark.parametrize("name", ["nul\x00name", "x" * 5000])
def test_a_hostile_batch_name_is_a_json_error(member_api, funded, project, name):
    csv_text = shot_list((PROMPT, "Trailer", "", "", "", "", "", ""))
    response = member_api.post("/batches", {"name": name, "csv": csv_text})
    assert_json_error(response, 422, "name")


def test_a_csv_with_nul_bytes_is_a_json_error(member_api, funded, project):
    csv_text = HEADER + f"{PROMPT}\x00,Trailer,,,,,,\n"
    response = member_api.post("/batches", {"name": "n", "csv": csv_text})
    assert_json_error(response, 422)


def test_a_csv_cell_beyond_the_csv_modules_limit_is_a_json_error(member_api, funded, project):
    csv_text = HEADER + '"' + "a" * 200_000 + '",Trailer,,,,,,\n'
    response = member_api.post("/batches", {"name": "n", "csv": csv_text})
    assert_json_error(response, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "nul\x00project"},
        {"name": "ok", "description": "nul\x00"},
    ],
)
def test_a_project_with_nul_is_a_json_error(member_api, body):
    assert_json_error(member_api.post("/projects", body), 422)


def test_a_scene_with_nul_is_a_json_error(member_api, project):
    response = member_api.post(f"/projects/{project.uuid}/scenes", {"title": "a\x00b"})
    assert_json_error(response, 422)


@pytest.mark.parametrize(
    "extra",
    [
        {"variants": 10**30},
        {"duration": -(10**30)},
        {"prompt": "\x00"},
        {"prompt": "x" * 100_000},
        {"new_project": "a\x00b"},
        {"new_scene": "a\x00b"},
        {"model": "\x00" * 10},
        {"aspect_ratio": "\u202e9:61"},
    ],
)
def test_hostile_submit_fields_are_json_errors(member_api, funded, project, kinovi, extra):
    body = {"prompt": PROMPT, "project": str(project.uuid), **extra}
    response = member_api.post("/generations", body)
    assert_json_error(response, 422)


def test_a_huge_limit_or_junk_cursor_is_not_a_500(owner_api, project):
    assert owner_api.get("/generations", limit=10**40).status_code in (200, 422)
    assert owner_api.get("/statement", limit=-(10**40)).status_code in (200, 422)
    assert owner_api.get("/statement", cursor="\x00").status_code == 422


def test_a_form_encoded_body_is_a_json_error(member_api, project):
    response = member_api.client.post(
        "/api/v1/generations",
        {"prompt": PROMPT},
        headers=member_api.headers,
    )
    assert_json_error(response, 400)


def test_an_idempotency_key_with_nul_is_a_json_error(member_api, funded, project, kinovi):
    body = {"prompt": PROMPT, "project": str(project.uuid)}
    response = member_api.post("/generations", body, {"Idempotency-Key": "a\x00b"})
    assert_json_error(response, 422)


def test_a_csv_with_nul_bytes_uploaded_on_the_page_is_refused_in_words(member_client, project):
    upload = SimpleUploadedFile("shots.csv", (HEADER + "a\x00b,Trailer,,,,,,\n").encode())
    response = member_client.post("/batches/", {"file": upload})
    assert response.status_code == 200
    assert b"NUL characters" in response.content


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", "/generations"), ("put", "/projects"), ("get", "/quote"), ("options", "/balance")],
)
def test_a_method_an_address_does_not_take_is_a_json_405(member_api, method, path):
    response = getattr(member_api.client, method)("/api/v1" + path, headers=member_api.headers)
    assert_json_error(response, 405)
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"]


def test_a_csv_of_100k_rows_is_refused_quickly_in_words(member_api, funded, project):
    csv_text = "prompt,project\n" + "a,Trailer\n" * 99_000
    response = member_api.post("/batches", {"name": "n", "csv": csv_text})
    assert_json_error(response, 422, "csv")
    assert "at most 200 rows" in response.json()["message"]


def test_a_csv_with_a_bom_and_crlf_reads_its_header(member_api, funded, project, kinovi):
    csv_text = "\ufeffPrompt,Project\r\n" + f'"{PROMPT}",Trailer\r\n'
    response = member_api.post("/batches", {"name": "n", "csv": csv_text})
    assert response.status_code == 201
    assert response.json()["invalid_rows"] == 0
