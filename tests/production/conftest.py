"""An S3-compatible server (moto's server mode, in its own process) and a bucket on it
that default_storage points at, configured as settings.py configures it."""

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import boto3
import httpx
import pytest
from django.core.files.storage import default_storage

from seedance_site import settings as site_settings

REGION = "eu-west-3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 — our own interpreter and module
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(endpoint, timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("moto's S3 server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def s3_env(monkeypatch, endpoint, bucket):
    for name, value in {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": "testing-key",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_S3_CUSTOM_DOMAIN", raising=False)
    monkeypatch.delenv("AWS_S3_ADDRESSING_STYLE", raising=False)


@dataclass
class Bucket:
    client: object  # boto3's S3 client, for looking behind the app's back
    name: str
    origin: str  # where settings say its URLs point

    def keys(self) -> dict[str, int]:
        listed = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return {item["Key"]: item["Size"] for item in listed}

    def uploads_in_progress(self) -> list:
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch, tmp_path):
    """A fresh bucket as default storage; MEDIA_ROOT is an empty folder that must stay so."""
    name = f"clips-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="testing-key",
        aws_secret_access_key="testing-secret",
    )
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3_env(monkeypatch, s3_endpoint, name)
    storage, origin = site_settings.object_storage_from_env(site_settings.AWS_QUERYSTRING_EXPIRE)
    settings.STORAGES = {**settings.STORAGES, "default": storage}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_REDIRECT_ENABLED = True
    settings.AWS_QUERYSTRING_EXPIRE = 300
    assert default_storage.bucket_name == name
    return Bucket(client, name, origin)
