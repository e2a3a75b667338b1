"""Clips, posters and exports in an S3-compatible bucket (moto's server, over HTTP)."""

import hashlib
import os
import tracemalloc
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import EndpointConnectionError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import ledger
from billing.models import Hold, HoldStatus
from generations.lifecycle import saving
from generations.media import fetch
from generations.media import storage as media_storage
from generations.media.bucket import BucketStorage
from generations.models import Clip, Generation, State
from tests.generations.factories import GenerationFactory, ProjectFactory, sample_mp4

pytestmark = pytest.mark.django_db


@pytest.fixture
def generation(bucket, team, member):
    return GenerationFactory(project=ProjectFactory(team=team), succeeded=True, created_by=member)


def query(url) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_member_is_sent_to_a_short_lived_signed_url_for_the_clip(
    member_client, generation, bucket
):
    response = member_client.get(f"/clips/{generation.uuid}/video.mp4?download=1")
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(bucket.origin + "/")
    signed = query(url)
    assert signed["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert signed["X-Amz-Credential"].endswith("/eu-west-3/s3/aws4_request")
    assert signed["X-Amz-Expires"] == "300"
    assert signed["response-content-disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"
    fetched = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert fetched.status_code == 206
    assert fetched.content == sample_mp4()[:100]


def test_the_poster_is_a_redirect_too_and_outsiders_get_nothing(
    member_client, outsider_client, generation, bucket
):
    response = member_client.get(f"/clips/{generation.uuid}/poster.jpg")
    assert response.status_code == 302
    assert httpx.get(response["Location"]).headers["content-type"] == "image/jpeg"
    for path in ("poster.jpg", "video.mp4"):
        assert outsider_client.get(f"/clips/{generation.uuid}/{path}").status_code == 404


def test_a_url_never_outlives_the_keys_that_sign_it(member_client, generation, settings):
    """Keys from a role expire; a URL they signed dies with them, whatever it says."""
    signer = default_storage.connection.meta.client._request_signer

    def expiring_in(seconds):
        return RefreshableCredentials(
            "role-key",
            "role-secret",
            "role-token",
            timezone.now() + timedelta(seconds=seconds),
            refresh_using=lambda: {
                "access_key": "role-key",
                "secret_key": "role-secret",
                "token": "role-token",
                "expiry_time": (timezone.now() + timedelta(seconds=seconds)).isoformat(),
            },
            method="test",
        )

    signer._credentials = expiring_in(1000)  # past botocore's refresh window
    assert (
        query(member_client.get(f"/clips/{generation.uuid}/video.mp4")["Location"])["X-Amz-Expires"]
        == "300"
    )
    settings.AWS_QUERYSTRING_EXPIRE = 3600
    signer._credentials = expiring_in(2000)
    expires = int(
        query(member_client.get(f"/clips/{generation.uuid}/video.mp4")["Location"])["X-Amz-Expires"]
    )
    assert 1900 < expires < 2000


def test_with_keys_about_to_expire_the_clip_is_streamed_instead(
    member_client, generation, monkeypatch
):
    monkeypatch.setattr(media_storage, "credential_seconds_left", lambda storage: 20.0)
    response = member_client.get(f"/clips/{generation.uuid}/video.mp4", HTTP_RANGE="bytes=10-19")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == sample_mp4()[10:20]


def test_an_unsigned_url_is_never_handed_out(member_client, generation, monkeypatch):
    """A custom domain makes django-storages drop the signature without a word."""
    monkeypatch.setattr(
        BucketStorage, "url", lambda self, name, **kw: f"https://media.example.com/{name}"
    )
    response = member_client.get(f"/clips/{generation.uuid}/video.mp4")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sample_mp4()


def test_with_redirects_off_the_web_process_streams_ranges_from_the_bucket(
    member_client, generation, settings
):
    settings.MEDIA_REDIRECT_ENABLED = False
    size = len(sample_mp4())
    response = member_client.get(f"/clips/{generation.uuid}/video.mp4", HTTP_RANGE="bytes=-50")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {size - 50}-{size - 1}/{size}"
    assert b"".join(response.streaming_content) == sample_mp4()[-50:]


def download_sample(url, out, **kwargs):
    out.write(sample_mp4())
    return fetch.Fetched(len(sample_mp4()), hashlib.sha256(sample_mp4()).hexdigest(), "video/mp4")


def refuse_connection(request, **kwargs):
    raise EndpointConnectionError(endpoint_url=request.url)


def finalizing(team, member):
    return GenerationFactory(
        project=ProjectFactory(team=team), running=True, created_by=member, state="finalizing"
    )


def test_a_finished_clip_lands_in_the_bucket_and_nothing_on_local_disk(
    bucket, team, member, monkeypatch, settings
):
    monkeypatch.setattr(fetch, "fetch_to_file", download_sample)
    generation = finalizing(team, member)
    clip = saving.store_clip(generation)
    base = f"{team.uuid}/{generation.uuid}"
    assert bucket.keys() == {
        f"clips/{base}.mp4": len(sample_mp4()),
        f"posters/{base}.jpg": clip.poster.size,
    }
    body = bucket.client.get_object(Bucket=bucket.name, Key=f"clips/{base}.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == clip.sha256
    assert not os.path.exists(settings.MEDIA_ROOT) or not any(os.scandir(settings.MEDIA_ROOT))


def test_a_failed_download_leaves_no_object(bucket, team, member, monkeypatch):
    def half_then_fail(url, out, **kwargs):
        out.write(sample_mp4()[:500])
        raise fetch.FetchRefused("The server stopped sending.", transient=True)

    monkeypatch.setattr(fetch, "fetch_to_file", half_then_fail)
    with pytest.raises(fetch.FetchRefused):
        saving.store_clip(finalizing(team, member))
    assert bucket.keys() == {}


def test_a_clip_whose_row_cannot_be_written_leaves_no_object(bucket, team, member, monkeypatch):
    monkeypatch.setattr(fetch, "fetch_to_file", download_sample)
    monkeypatch.setattr(
        "generations.models.Clip.save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("db"))
    )
    with pytest.raises(RuntimeError):
        saving.store_clip(finalizing(team, member))
    assert bucket.keys() == {}


# Four parts in flight, and botocore's copy of the one being sent: well under the file.
LARGE_MB = 160
PEAK_BYTES = 64 * 2**20


def large_file(tmp_path, megabytes):
    path = tmp_path / "large.mp4"
    with open(path, "wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(2**20))
    return path


def test_a_large_clip_goes_up_in_parts_without_being_held_in_memory(bucket, tmp_path):
    path = large_file(tmp_path, LARGE_MB)
    tracemalloc.start()
    try:
        name = media_storage.save_file(default_storage, "clips/large.mp4", path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    head = bucket.client.head_object(Bucket=bucket.name, Key=name)
    assert head["ContentLength"] == LARGE_MB * 2**20
    assert head["ETag"].strip('"').endswith(f"-{LARGE_MB // 8}")  # in 8 MB parts
    assert peak < PEAK_BYTES, peak


def test_an_upload_that_fails_half_way_leaves_neither_object_nor_parts(bucket, tmp_path):
    path = large_file(tmp_path, 24)
    client = default_storage.connection.meta.client
    parts = []

    def fail_the_second_part(**kwargs):
        parts.append(1)
        if len(parts) == 2:
            raise ConnectionError("the network went away")

    client.meta.events.register("before-call.s3.UploadPart", fail_the_second_part)
    try:
        with pytest.raises(media_storage.StorageFailed) as failed:
            media_storage.save_file(default_storage, "clips/broken.mp4", path)
        assert isinstance(failed.value.__cause__, ConnectionError)
    finally:
        client.meta.events.unregister("before-call.s3.UploadPart", fail_the_second_part)
    assert bucket.keys() == {}
    assert bucket.uploads_in_progress() == []


def test_a_second_save_of_the_same_clip_that_loses_the_race_keeps_the_winners_objects(
    bucket, team, member, monkeypatch
):
    """Two workers may save one job (the first one's claim ran out during a slow upload).
    Both write the same keys; the one whose row is refused must not delete the objects
    the winner's row points at, or the team has paid for a clip that is gone."""
    monkeypatch.setattr(fetch, "fetch_to_file", download_sample)
    generation = finalizing(team, member)
    winner = saving.store_clip(generation)
    assert set(bucket.keys()) == {winner.file.name, winner.poster.name}
    with pytest.raises(IntegrityError), transaction.atomic():
        saving.store_clip(generation)
    assert set(bucket.keys()) == {winner.file.name, winner.poster.name}
    assert default_storage.size(winner.file.name) == len(sample_mp4())


@pytest.mark.django_db(transaction=True)
def test_with_the_bucket_unreachable_a_finished_job_waits_with_its_hold_and_no_internals_shown(
    bucket, team, member, operator, monkeypatch, settings
):
    """Storage down while saving: retried, then set aside for a person with the money still
    held; never succeeded without a clip, never charged. What members read names no host."""
    ledger.grant(team, 10_000_000, by=operator, memo="Test budget", key="test-grant")
    monkeypatch.setattr(fetch, "fetch_to_file", download_sample)
    generation = finalizing(team, member)
    generation.hold = ledger.hold(team, member, None, 200_000, "Clip", f"gen-{generation.uuid}")
    generation.save(update_fields=["hold"])
    storage = default_storage.connection.meta.client
    storage.meta.events.register("before-send.s3.*", refuse_connection)
    try:
        for _ in range(settings.GENERATION_STEP_ATTEMPTS):
            Generation.objects.filter(pk=generation.pk).update(claimed_at=None)
            saving.finalize(generation.pk)
    finally:
        storage.meta.events.unregister("before-send.s3.*", refuse_connection)
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION
    assert generation.charge_micros is None
    assert Hold.objects.get(pk=generation.hold_id).status == HoldStatus.PENDING
    assert not Clip.objects.filter(generation=generation).exists()
    assert bucket.keys() == {}
    shown = [generation.error_message, *generation.events.values_list("message", flat=True)]
    for text in shown:
        assert "127.0.0.1" not in text and bucket.name not in text, text
