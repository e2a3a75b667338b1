"""A real HTTP client against the live server runs a shot list through the sandbox: the
way a production team's script uses the API, with its webhook receiver listening."""

import csv
import io
import json
import time

import httpx
import pytest
import standardwebhooks

from generations.api import tasks, webhooks
from generations.api.models import WebhookEndpoint
from generations.models import Generation
from generations.sandbox.engine import wait_for_background
from tests.api.conftest import token_for
from tests.api.receivers import Receiver
from tests.generations.conftest import drive, make_account

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = [
    ("Opening", "A lighthouse on a cliff at dusk, slow push in, warm lamplight"),
    ("The storm", "Waves crash over the harbour wall at night, handheld, rain"),
]


@pytest.fixture(autouse=True)
def workers_by_hand(monkeypatch):
    """The test sweeps as a worker would; deliveries go out as soon as they are queued."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: None)
    monkeypatch.setattr(tasks, "enqueue_delivery", tasks.deliver_webhook)
    monkeypatch.setattr(webhooks, "http_client", lambda seconds: httpx.Client(timeout=seconds))


@pytest.fixture
def api(sandbox, funded, owner):
    make_account("kinovi", sandbox)
    headers = {"Authorization": f"Bearer {token_for(funded, owner)}"}
    with httpx.Client(base_url=f"{sandbox}/api/v1", headers=headers, timeout=20) as client:
        yield client


def follow(client, ids, seconds=30.0) -> list[dict]:
    """Sweep until every job ends, then read each over HTTP."""
    for generation in Generation.objects.filter(uuid__in=ids):
        drive(generation, seconds)
    return [client.get(f"/generations/{i}").json() for i in ids]


def test_a_script_runs_a_shot_list_end_to_end(api, funded):
    models = {m["id"]: m for m in api.get("/models").json()}
    assert models["seedance-2.0"]["available"]
    project = api.post("/projects", json={"name": "Harbour"}).json()
    ids = []
    with Receiver() as receiver:
        endpoint = WebhookEndpoint(team=funded, url=receiver.url)
        secret = WebhookEndpoint.new_secret()
        endpoint.set_secret(secret)
        endpoint.save()
        for title, prompt in SHOTS:
            scene = api.post(f"/projects/{project['id']}/scenes", json={"title": title}).json()
            shot = {"prompt": prompt, "project": project["id"], "scene": scene["id"]}
            key = {"Idempotency-Key": f"harbour-{scene['number']}"}
            quote = api.post("/quote", json=shot).json()
            assert quote["ok"], quote
            [job] = api.post("/generations", json=shot, headers=key).json()
            [retried] = api.post("/generations", json=shot, headers=key).json()
            assert retried["id"] == job["id"]
            ids.append(job["id"])
        done = follow(api, ids)
        wait_for_background()
    assert [j["state"] for j in done] == ["succeeded", "succeeded"], done
    assert Generation.objects.count() == 2
    for job in done:
        assert job["charge"]["micros"] > 0
        assert [e["kind"] for e in job["timeline"]][0] == "submitted"
        video = api.get(job["clip"]["download_url"])
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        assert len(video.content) == job["clip"]["bytes"]
    listed = api.get("/generations", params={"project": project["id"]}).json()["results"]
    assert {j["id"] for j in listed} == set(ids)
    assert api.get("/balance").json()["spent_this_month"]["micros"] > 0
    events = []
    for headers, body in receiver.received:
        standardwebhooks.Webhook(secret).verify(body, headers)
        events.append(json.loads(body)["type"])
    assert events.count("generation.succeeded") == 2
    assert "batch.finished" not in events  # a script's jobs are no batch run


def test_a_csv_shot_list_runs_as_one_batch(api):
    project = api.post("/projects", json={"name": "Teaser"}).json()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["prompt", "project", "scene", "model", "duration", "ratio", "resolution", "variants"]
    )
    for title, prompt in SHOTS:
        writer.writerow([prompt, "Teaser", title, "seedance-2.0", "5", "16:9", "720p", "1"])
    preview = api.post("/batches", json={"name": "teaser.csv", "csv": out.getvalue()}).json()
    assert preview["can_confirm"], preview
    batch = api.post(f"/batches/{preview['id']}/confirm").json()
    ids = list(
        Generation.objects.filter(project__uuid=project["id"]).values_list("uuid", flat=True)
    )
    follow(api, [str(i) for i in ids])
    wait_for_background()
    deadline = time.monotonic() + 10
    while batch["progress"]["finished"] < 2 and time.monotonic() < deadline:
        batch = api.get(f"/batches/{preview['id']}").json()
    assert batch["progress"]["succeeded"] == 2
    results = list(csv.DictReader(io.StringIO(api.get(batch["results_url"]).text)))
    assert [r["state"] for r in results] == ["succeeded", "succeeded"]
    assert all(r["clip"].endswith("/clip/download") and r["cost ($)"] for r in results)
