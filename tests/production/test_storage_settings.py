"""Object storage from django-storages' own variables, its pitfalls refused at start-up,
and storyboard exports kept in the bucket."""

import io
import zipfile

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages

from generations.media import exports
from tests.generations.factories import GenerationFactory, ProjectFactory, SceneFactory, sample_mp4
from tests.test_settings import load_settings


def storage_from(settings_module):
    return storages.create_storage(settings_module.STORAGES["default"])


def test_without_a_bucket_media_stay_on_the_filesystem(monkeypatch):
    monkeypatch.delenv("AWS_STORAGE_BUCKET_NAME", raising=False)
    prod = load_settings(monkeypatch)
    assert prod.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert prod.CONTENT_SECURITY_POLICY["DIRECTIVES"]["media-src"] == ["'self'"]


def test_on_aws_urls_are_signed_v4_for_the_region_and_the_csp_names_their_origin(monkeypatch):
    prod = load_settings(
        monkeypatch,
        AWS_STORAGE_BUCKET_NAME="studio-clips",
        AWS_S3_REGION_NAME="eu-central-1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    url = storage_from(prod).url("clips/a.mp4")
    assert url.startswith("https://studio-clips.s3.eu-central-1.amazonaws.com/clips/a.mp4?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "%2Feu-central-1%2Fs3%2Faws4_request" in url
    origin = "https://studio-clips.s3.eu-central-1.amazonaws.com"
    directives = prod.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert directives["media-src"] == ["'self'", origin]
    assert directives["img-src"] == ["'self'", "data:", origin]
    assert directives["connect-src"] == ["'self'"]


def test_an_s3_compatible_server_is_addressed_by_path_on_its_own_origin(monkeypatch):
    prod = load_settings(
        monkeypatch,
        AWS_STORAGE_BUCKET_NAME="clips",
        AWS_S3_ENDPOINT_URL="https://minio.internal:9000/",
        AWS_S3_REGION_NAME="us-east-1",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    assert storage_from(prod).url("x.jpg").startswith("https://minio.internal:9000/clips/x.jpg?")
    assert prod.MEDIA_ORIGIN == "https://minio.internal:9000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "AWS_S3_REGION_NAME must be set"),
        (
            {"AWS_S3_REGION_NAME": "eu-west-1", "AWS_S3_CUSTOM_DOMAIN": "cdn.example.com"},
            "CUSTOM_DOMAIN",
        ),
        ({"AWS_S3_REGION_NAME": "eu-west-1", "AWS_QUERYSTRING_EXPIRE": "5"}, "30 seconds"),
        # Signature v4 refuses X-Amz-Expires past a week: every clip would be a 403.
        ({"AWS_S3_REGION_NAME": "eu-west-1", "AWS_QUERYSTRING_EXPIRE": "604801"}, "604800"),
    ],
)
def test_settings_that_would_break_signing_stop_the_process(monkeypatch, env, message):
    monkeypatch.delenv("AWS_S3_REGION_NAME", raising=False)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, AWS_STORAGE_BUCKET_NAME="clips", **env)


@pytest.fixture
def storyboard(bucket, team, owner):
    project = ProjectFactory(team=team, name="Road Trip")
    for number in (1, 2):
        scene = SceneFactory(project=project, number=number)
        scene.chosen_take = GenerationFactory(project=project, scene=scene, succeeded=True)
        scene.save()
    return project


@pytest.mark.django_db
def test_a_storyboard_export_is_joined_from_and_stored_in_the_bucket(
    bucket, storyboard, member, member_client
):
    name = exports.build_storyboard_export(storyboard.pk, member.pk)
    keys = bucket.keys()
    assert name in keys and f"exports/{storyboard.uuid}/status.json" in keys
    response = member_client.get(f"/projects/{storyboard.uuid}/storyboard.mp4")
    assert response.status_code == 302 and response["Location"].startswith(bucket.origin)
    response = member_client.get(f"/projects/{storyboard.uuid}/storyboard.zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len(archive.namelist()) == 3
    assert archive.read(archive.namelist()[0]) == sample_mp4()


def test_a_bucket_name_with_dots_is_addressed_by_path_and_the_csp_names_that_origin(monkeypatch):
    """botocore addresses a bucket whose name is no DNS label by path, whatever the style
    asked for: the CSP must name the host its URLs really point at."""
    prod = load_settings(
        monkeypatch,
        AWS_STORAGE_BUCKET_NAME="media.example.com",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    url = storage_from(prod).url("clips/a.mp4")
    assert url.startswith(prod.MEDIA_ORIGIN + "/")
    assert prod.MEDIA_ORIGIN == "https://s3.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_S3_ENDPOINT_URL": "minio:9000"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "minio.internal"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "ftp://minio.internal"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_ACCESS_KEY_ID": "key"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": "secret"}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_a_half_configured_bucket_stops_the_process(monkeypatch, env, message):
    """Else the first upload or media request fails with a 500, far from the cause."""
    for name in ("AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(
            monkeypatch, AWS_STORAGE_BUCKET_NAME="clips", AWS_S3_REGION_NAME="eu-west-1", **env
        )


def test_an_http_bucket_behind_an_https_site_stops_the_process_unless_media_are_streamed(
    monkeypatch,
):
    """Browsers refuse http:// video and images on an https:// page (mixed content):
    every redirect to such a bucket would be a broken player."""
    bucket = {
        "AWS_STORAGE_BUCKET_NAME": "clips",
        "AWS_S3_ENDPOINT_URL": "http://minio.internal:9000",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    monkeypatch.delenv("MEDIA_REDIRECT_ENABLED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="mixed content"):
        load_settings(monkeypatch, **bucket)
    assert load_settings(monkeypatch, **bucket, MEDIA_REDIRECT_ENABLED="false").MEDIA_ORIGIN
    assert load_settings(monkeypatch, **bucket, SECURE_SSL_REDIRECT="false").MEDIA_ORIGIN
