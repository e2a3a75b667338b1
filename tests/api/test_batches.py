"""Batch runs: a CSV checked row by row, one total quote, all rows or none, progress,
cancelling what has not started, and a results CSV safe to open in a spreadsheet."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generations.api import batches
from generations.api.models import Batch, BatchState
from generations.models import Generation, Scene, State
from tests.generations.conftest import PROMPT

pytestmark = pytest.mark.django_db

HEADER = "prompt,project,scene,model,duration,ratio,resolution,variants\n"


def shot_list(*rows) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return HEADER + out.getvalue()


GOOD = shot_list(
    (PROMPT, "Trailer", "Opening", "seedance-2.0", "5", "16:9", "720p", "2"),
    ("A gull over the harbour at dawn", "Trailer", "Opening", "", "", "", "", ""),
)


def test_a_preview_checks_every_row_and_quotes_one_total(member_api, funded, project, kinovi):
    response = member_api.post("/batches", {"name": "Shots", "csv": GOOD})
    assert response.status_code == 201
    preview = response.json()
    assert preview["state"] == "preview" and preview["clips"] == 3
    assert preview["hold_total"]["micros"] == sum(r["hold"]["micros"] for r in preview["rows"]) > 0
    assert preview["can_confirm"] and preview["invalid_rows"] == 0
    assert not Generation.objects.exists()


def test_each_bad_row_says_what_is_wrong(member_api, funded, project, kinovi):
    text = shot_list(
        (PROMPT, "Nowhere", "", "", "", "", "", ""),
        (PROMPT, "Trailer", "", "", "99", "", "", ""),
        (PROMPT, "Trailer", "", "", "", "5:4", "", ""),
        ("", "Trailer", "", "", "", "", "", ""),
        (PROMPT, "Trailer", "", "", "", "", "", ""),
    )
    preview = member_api.post("/batches", {"csv": text}).json()
    fields = [[e["field"] for e in row["errors"]] for row in preview["rows"]]
    assert fields == [["project"], ["duration"], ["ratio"], ["prompt"], []]
    assert "Nowhere" in preview["rows"][0]["errors"][0]["message"]
    assert not preview["can_confirm"] and preview["invalid_rows"] == 4
    confirm = member_api.post(f"/batches/{preview['id']}/confirm")
    assert confirm.status_code == 409
    assert not Generation.objects.exists()


def test_the_preview_says_when_the_budget_will_not_allow_it(member_api, project, kinovi):
    preview = member_api.post("/batches", {"csv": GOOD}).json()
    assert not preview["can_confirm"]
    assert "available" in preview["budget_reasons"][0]


@pytest.mark.parametrize(
    "text, words",
    [("", "first line"), ("prompt,project\n", "no rows"), ("hello\n1\n", "first line")],
)
def test_a_csv_that_is_no_shot_list_is_refused(member_api, text, words):
    response = member_api.post("/batches", {"csv": text})
    assert response.status_code == 422 and words in response.json()["message"]


def test_confirming_submits_every_row_and_starts_a_named_scene_once(
    member_api, funded, project, kinovi, queued
):
    preview = member_api.post("/batches", {"csv": GOOD}).json()
    done = member_api.post(f"/batches/{preview['id']}/confirm").json()
    assert done["state"] == "submitted"
    assert Generation.objects.count() == 3
    assert Scene.objects.filter(project=project, title="Opening").count() == 1
    assert done["progress"] == {
        "total": 3,
        "finished": 0,
        "succeeded": 0,
        "waiting": 3,
        "states": {"queued": 3},
    }
    again = member_api.post(f"/batches/{preview['id']}/confirm")
    assert again.status_code == 409 and Generation.objects.count() == 3


def test_when_money_runs_out_midway_nothing_is_submitted(
    member_api, project, kinovi, queued, operator, team
):
    from billing import ledger

    preview = member_api.post("/batches", {"csv": GOOD}).json()
    each = preview["rows"][1]["hold"]["micros"]
    ledger.grant(team, each * 2, by=operator, memo="Not enough for three", key="g1")
    response = member_api.post(f"/batches/{preview['id']}/confirm")
    assert response.status_code == 409
    assert "Nothing was submitted" in response.json()["message"]
    assert not Generation.objects.exists()
    assert not Scene.objects.exists()
    assert Batch.objects.get().state == BatchState.PREVIEW


def test_cancel_stops_what_has_not_started(member_api, funded, project, kinovi, queued):
    preview = member_api.post("/batches", {"csv": GOOD}).json()
    member_api.post(f"/batches/{preview['id']}/confirm")
    started = Generation.objects.first()
    Generation.objects.filter(pk=started.pk).update(state=State.RUNNING)
    assert member_api.post(f"/batches/{preview['id']}/cancel").json() == {"cancelled": 2}
    states = sorted(Generation.objects.values_list("state", flat=True))
    assert states == ["cancelled", "cancelled", "running"]


def test_the_results_csv_lists_every_row_and_is_formula_safe(
    member_api, funded, project, kinovi, queued
):
    text = shot_list(
        ('=HYPERLINK("http://evil")', "Trailer", "@SUM(A1)", "", "", "", "", ""),
        ("-2+3 a tide pool", "Trailer", "", "", "", "", "", ""),
    )
    preview = member_api.post("/batches", {"csv": text}).json()
    member_api.post(f"/batches/{preview['id']}/confirm")
    g = Generation.objects.order_by("id").first()
    Generation.objects.filter(pk=g.pk).update(
        state=State.FAILED, error_message="=cmd|' /C calc'!A0", charge_micros=0
    )
    response = member_api.client.get(preview["results_url"], headers=member_api.headers)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2
    assert rows[0]["prompt"].startswith("'=") and rows[0]["scene"].startswith("'@")
    assert rows[0]["error"].startswith("'=") and rows[0]["state"] == "failed"
    assert rows[1]["prompt"].startswith("'-") and rows[1]["state"] == "queued"
    for row in rows:
        assert not any(v.startswith(batches.FORMULA_STARTS) for v in row.values())


def test_rows_never_submitted_are_in_the_results_too(member_api, funded, project, kinovi):
    text = shot_list((PROMPT, "Nowhere", "", "", "", "", "", ""))
    preview = member_api.post("/batches", {"csv": text}).json()
    response = member_api.client.get(preview["results_url"], headers=member_api.headers)
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["state"] == "not submitted" and "Nowhere" in row["error"]


def test_viewers_may_read_a_batch_but_not_run_one(
    member_api, viewer_api, outsider_api, funded, project, kinovi
):
    preview = member_api.post("/batches", {"csv": GOOD}).json()
    assert viewer_api.get(f"/batches/{preview['id']}").status_code == 200
    assert viewer_api.post(f"/batches/{preview['id']}/confirm").status_code == 403
    assert viewer_api.post("/batches", {"csv": GOOD}).status_code == 403
    assert outsider_api.get(f"/batches/{preview['id']}").status_code == 404
    assert outsider_api.post(f"/batches/{preview['id']}/confirm").status_code == 404


# --- the pages ---------------------------------------------------------------------


def test_the_pages_upload_preview_confirm_and_follow(
    member_client, funded, project, kinovi, queued
):
    upload = SimpleUploadedFile("shots.csv", GOOD.encode("utf-8-sig"), "text/csv")
    response = member_client.post("/batches/", {"file": upload})
    batch = Batch.objects.get()
    assert response.url == f"/batches/{batch.uuid}/"
    page = member_client.get(response.url).content.decode()
    assert "Submit all 3 clips" in page and "A gull over the harbour" in page
    member_client.post(f"/batches/{batch.uuid}/confirm/")
    fragment = member_client.get(f"/batches/{batch.uuid}/", headers={"HX-Request": "true"})
    text = fragment.content.decode()
    assert "0 of 3 finished" in text and 'hx-trigger="every 2s"' in text
    assert "<html" not in text
    member_client.post(f"/batches/{batch.uuid}/cancel/")
    done = member_client.get(f"/batches/{batch.uuid}/", headers={"HX-Request": "true"})
    assert "3 of 3 finished" in done.content.decode()
    assert "every 2s" not in done.content.decode()
    results = member_client.get(f"/batches/{batch.uuid}/results.csv")
    assert results.content.decode().count("cancelled") == 3


def test_a_page_upload_with_errors_shows_them(member_client, project):
    upload = SimpleUploadedFile("bad.csv", b"\xff\xfe not utf-8", "text/csv")
    response = member_client.post("/batches/", {"file": upload})
    assert "UTF-8" in response.content.decode()
    assert not Batch.objects.exists()


def test_a_viewer_sees_batches_but_cannot_upload(viewer_client, project):
    assert viewer_client.get("/batches/").status_code == 200
    upload = SimpleUploadedFile("shots.csv", GOOD.encode(), "text/csv")
    assert viewer_client.post("/batches/", {"file": upload}).status_code == 403


def test_cancel_never_reaches_a_job_a_worker_sent_meanwhile(
    member_api, funded, project, kinovi, queued, monkeypatch
):
    preview = member_api.post("/batches", {"csv": GOOD}).json()
    member_api.post(f"/batches/{preview['id']}/confirm")
    vendor_cancels = []

    def sent_just_now(membership, generation):
        # A worker claims and sends the job between the list and its cancel.
        Generation.objects.filter(pk=generation.pk).update(state=State.RUNNING)
        return True

    monkeypatch.setattr(batches, "may_cancel", sent_just_now)
    monkeypatch.setattr(
        "generations.lifecycle.operators._cancel_running",
        lambda generation, by: vendor_cancels.append(generation.pk) or "cancelled",
    )
    assert member_api.post(f"/batches/{preview['id']}/cancel").json() == {"cancelled": 0}
    assert vendor_cancels == []
    assert set(Generation.objects.values_list("state", flat=True)) == {State.RUNNING}
