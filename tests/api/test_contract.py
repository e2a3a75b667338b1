"""/api/v1/ endpoint by endpoint and role by role: what each answers, and that every
error is JSON with a code, a sentence and a field."""

import pytest

from generations.models import Generation, State
from tests.api.conftest import ApiClient
from tests.generations.conftest import PROMPT
from tests.generations.factories import GenerationFactory, ProjectFactory, SceneFactory

pytestmark = pytest.mark.django_db

READS = ["/models", "/generations", "/projects", "/balance", "/statement"]


def body(for_project, **overrides):
    return {"prompt": PROMPT, "project": str(for_project.uuid), **overrides}


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert data["code"] == code
    assert data["message"] and data["message"][-1] in ".?!"
    assert data["field"] == field
    return data


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_a_token(anonymous_api, path):
    assert_error(anonymous_api.get(path), 401, "unauthenticated")


def test_a_made_up_token_is_refused(db):
    assert_error(ApiClient("sds_not-a-token").get("/balance"), 401, "unauthenticated")


@pytest.mark.parametrize("path", READS)
def test_read_only_tokens_and_viewers_may_read(read_api, viewer_api, path, kinovi):
    assert read_api.get(path).status_code == 200
    assert viewer_api.get(path).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/quote", "/generations", "/projects", "/generations/{g}/cancel", "/projects/{p}/scenes"],
)
def test_read_only_tokens_and_viewers_may_not_write(read_api, viewer_api, team, project, path):
    g = GenerationFactory(project=project)
    path = path.format(g=g.uuid, p=project.uuid)
    payload = {**body(project), "name": "x", "title": "x"}
    assert_error(read_api.post(path, payload), 403, "forbidden")
    assert_error(viewer_api.post(path, payload), 403, "forbidden")
    assert Generation.objects.get().state == State.QUEUED


def test_models_say_what_each_vendor_allows_and_why_not_more(owner_api, kinovi):
    [seedance] = [m for m in owner_api.get("/models").json() if m["id"] == "seedance-2.0"]
    assert seedance["available"]
    assert "720p" in seedance["any_vendor"]["resolutions"]
    assert "1080p" in seedance["any_vendor"]["reasons"]["resolution"]
    [vendor] = seedance["vendors"]
    assert vendor["id"] == str(kinovi.uuid)


def test_a_model_no_vendor_serves_says_so(owner_api):
    models = owner_api.get("/models").json()
    assert all(not m["available"] for m in models)
    assert "No enabled vendor account offers" in models[0]["any_vendor"]["reasons"]["model"]


def test_a_quote_prices_without_creating_anything(member_api, funded, project, kinovi):
    quote = member_api.post("/quote", body(project, variants=2)).json()
    assert quote["ok"] and quote["vendor"] == "Kinovi main"
    assert quote["hold_total"]["micros"] == 2 * quote["each"]["micros"] > 0
    assert not Generation.objects.exists()


def test_a_quote_says_why_the_budget_refuses(member_api, project, kinovi):
    quote = member_api.post("/quote", body(project)).json()
    assert not quote["ok"]
    assert quote["reasons"]


def test_a_member_submits_and_gets_201_with_each_generation(
    member_api, funded, project, kinovi, queued, member, django_capture_on_commit_callbacks
):
    scene = SceneFactory(project=project)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_api.post("/generations", body(project, scene=str(scene.uuid), variants=2))
    assert response.status_code == 201
    created = response.json()
    assert [g["state"] for g in created] == ["queued", "queued"]
    rows = Generation.objects.filter(uuid__in=[g["id"] for g in created])
    assert {(g.created_by, g.scene, g.hold is not None) for g in rows} == {(member, scene, True)}
    assert len(queued) == 2


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"duration": 99}, "duration"),
        ({"resolution": "1080p"}, "resolution"),
        ({"model": "seedance-9"}, "model"),
        ({"audio": True}, "audio"),
        ({"project": None}, "project"),
        ({"duration": "long"}, "duration"),
        ({"variants": 9}, "variants"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_it_validates_as_the_generate_page_does(
    member_api, funded, project, kinovi, queued, overrides, field
):
    response = member_api.post("/generations", body(project, **overrides))
    assert_error(response, 422, "invalid", field)
    assert not Generation.objects.exists()


def test_an_unknown_vendor_or_another_teams_project_is_refused(
    member_api, funded, project, kinovi, other_team
):
    foreign = ProjectFactory(team=other_team)
    assert_error(member_api.post("/generations", body(foreign)), 422, "invalid", "project")
    response = member_api.post("/generations", body(project, vendor=str(foreign.uuid)))
    assert_error(response, 422, "invalid", "vendor")


def test_a_body_that_is_not_json_is_a_json_error(member_api, project):
    response = member_api.client.post(
        "/api/v1/generations",
        "{not json",
        content_type="application/json",
        headers=member_api.headers,
    )
    assert 400 <= response.status_code < 500
    assert response.json()["code"]


def test_no_money_is_a_402_and_nothing_is_created(member_api, project, kinovi, queued):
    data = assert_error(member_api.post("/generations", body(project)), 402, "insufficient_funds")
    assert "available" in data["message"]
    assert not Generation.objects.exists()


def test_the_members_rate_applies(member_api, funded, project, kinovi, queued, settings):
    settings.GENERATE_RATE_PER_MINUTE = 2
    assert member_api.post("/generations", body(project, variants=2)).status_code == 201
    assert_error(member_api.post("/generations", body(project)), 429, "rate_limited")


def test_a_retried_submit_with_its_key_returns_the_first_answer(
    member_api, funded, project, kinovi, queued
):
    key = {"Idempotency-Key": "shot-12-take-1"}
    first = member_api.post("/generations", body(project), headers=key)
    again = member_api.post("/generations", body(project), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Generation.objects.count() == 1
    other = member_api.post("/generations", body(project, duration=6), headers=key)
    assert_error(other, 409, "idempotency_key_reused")
    assert Generation.objects.count() == 1


def test_a_key_is_the_teams_own(
    member_api, outsider_api, funded, project, kinovi, queued, other_team
):
    key = {"Idempotency-Key": "same"}
    assert member_api.post("/generations", body(project), headers=key).status_code == 201
    foreign = ProjectFactory(team=other_team)
    response = outsider_api.post("/generations", body(foreign), headers=key)
    assert response.json()["code"] == "insufficient_funds"


def test_a_refused_submit_keeps_no_key(member_api, project, kinovi, queued, funded, settings):
    settings.GENERATE_RATE_PER_MINUTE = 0
    key = {"Idempotency-Key": "retry-me"}
    assert member_api.post("/generations", body(project), headers=key).status_code == 429
    settings.GENERATE_RATE_PER_MINUTE = 10
    assert member_api.post("/generations", body(project), headers=key).status_code == 201


def test_jobs_are_listed_newest_first_with_a_cursor_and_filters(owner_api, team, project):
    rows = [GenerationFactory(project=project) for _ in range(3)]
    failed = GenerationFactory(project=project, failed=True)
    first = owner_api.get("/generations", limit=2).json()
    assert [g["id"] for g in first["results"]] == [str(failed.uuid), str(rows[2].uuid)]
    second = owner_api.get("/generations", limit=2, cursor=first["next_cursor"]).json()
    assert [g["id"] for g in second["results"]] == [str(rows[1].uuid), str(rows[0].uuid)]
    assert second["next_cursor"] is None
    only_failed = owner_api.get("/generations", state="failed").json()["results"]
    assert [g["id"] for g in only_failed] == [str(failed.uuid)]
    assert_error(owner_api.get("/generations", cursor="junk!"), 422, "invalid", "cursor")
    assert_error(owner_api.get("/generations", state="dreaming"), 422, "invalid", "state")


def test_the_list_costs_the_same_queries_for_many_jobs(
    owner_api, team, project, django_assert_max_num_queries
):
    for _ in range(10):
        GenerationFactory(project=project, succeeded=True)
    with django_assert_max_num_queries(8):
        assert len(owner_api.get("/generations").json()["results"]) == 10


def test_one_job_has_its_state_cost_timeline_and_clip(owner_api, team, project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    g = GenerationFactory(project=project, succeeded=True)
    g.log("submitted", "Submitted.")
    data = owner_api.get(f"/generations/{g.uuid}").json()
    assert data["state"] == "succeeded" and data["charge"]["micros"] == 200_000
    assert [e["kind"] for e in data["timeline"]] == ["submitted"]
    assert data["clip"]["project_id"] == str(project.uuid)
    download = owner_api.client.get(data["clip"]["download_url"], headers=owner_api.headers)
    assert download.status_code == 200
    assert download["Content-Type"] == "video/mp4"
    assert b"".join(download.streaming_content)[4:8] == b"ftyp"
    clip = owner_api.get(f"/generations/{g.uuid}/clip").json()
    assert clip["sha256"] == g.clip.sha256
    poster = owner_api.client.get(clip["poster_url"], headers=owner_api.headers)
    assert poster.status_code == 200


def test_a_job_without_a_clip_has_none(owner_api, project):
    g = GenerationFactory(project=project)
    assert owner_api.get(f"/generations/{g.uuid}").json()["clip"] is None
    assert_error(owner_api.get(f"/generations/{g.uuid}/clip"), 404, "not_found")
    assert_error(owner_api.get(f"/generations/{g.uuid}/clip/download"), 404, "not_found")


def test_another_teams_objects_are_404(outsider_api, project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    g = GenerationFactory(project=project, succeeded=True)
    for path in [
        f"/generations/{g.uuid}",
        f"/generations/{g.uuid}/clip",
        f"/generations/{g.uuid}/clip/download",
        f"/projects/{project.uuid}",
    ]:
        assert_error(outsider_api.get(path), 404, "not_found")
    assert_error(outsider_api.post(f"/generations/{g.uuid}/cancel"), 404, "not_found")
    assert_error(
        outsider_api.post(f"/projects/{project.uuid}/scenes", {"title": "x"}), 404, "not_found"
    )
    assert outsider_api.get("/generations").json()["results"] == []


def test_a_member_cancels_their_own_job_but_not_anothers(
    member_api, owner_api, funded, project, kinovi, queued, owner
):
    [mine] = member_api.post("/generations", body(project)).json()
    theirs = GenerationFactory(project=project, created_by=owner)
    assert_error(member_api.post(f"/generations/{theirs.uuid}/cancel"), 403, "forbidden")
    done = member_api.post(f"/generations/{mine['id']}/cancel").json()
    assert done["state"] == "cancelled" and "hold was returned" in done["message"]
    again = member_api.post(f"/generations/{mine['id']}/cancel")
    assert_error(again, 409, "cannot_cancel")
    assert owner_api.post(f"/generations/{theirs.uuid}/cancel").status_code == 200


def test_projects_and_scenes(member_api, viewer_api, team, project):
    created = member_api.post("/projects", {"name": "Teaser", "description": "30 s"})
    assert created.status_code == 201
    pid = created.json()["id"]
    scene = member_api.post(f"/projects/{pid}/scenes", {"title": "Opening"})
    assert scene.status_code == 201 and scene.json()["number"] == 1
    names = [p["name"] for p in viewer_api.get("/projects").json()]
    assert names == ["Teaser", "Trailer"]
    detail = viewer_api.get(f"/projects/{pid}").json()
    assert [s["title"] for s in detail["scenes"]] == ["Opening"]
    assert_error(member_api.post("/projects", {"name": "   "}), 422, "invalid", "name")
    assert_error(member_api.post("/projects", {}), 422, "invalid", "name")


def test_balance_and_statement(viewer_api, funded, project, kinovi, queued, member_api):
    member_api.post("/generations", body(project))
    balance = viewer_api.get("/balance").json()
    assert balance["on_hold"]["micros"] > 0
    assert balance["available"]["micros"] + balance["on_hold"]["micros"] == 100_000_000
    lines = viewer_api.get("/statement", limit=1).json()
    assert lines["results"][0]["entry"] == "Hold"
    older = viewer_api.get("/statement", limit=1, cursor=lines["next_cursor"]).json()
    assert older["results"][0]["entry"] == "Credit grant"


def test_the_openapi_document_and_the_reference_page(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/generations" in schema["paths"]
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()
    page = client.get("/api/v1/reference/").content.decode()
    assert "/api/v1/generations/{uuid}/cancel" in page
    assert "openapi.json" in page


def test_an_unknown_address_is_a_json_404(owner_api):
    assert_error(owner_api.get("/no/such/thing"), 404, "not_found")


def test_a_bug_is_a_json_500_never_a_page(owner_api, monkeypatch):
    def broken(team):
        raise RuntimeError("boom")

    monkeypatch.setattr("billing.ledger.balances", broken)
    response = owner_api.get("/balance")
    assert_error(response, 500, "internal")
    assert "boom" not in response.content.decode()
