"""The processes of the deployment check, each in its own process group as if on its own
machine: an S3-compatible server (moto's server mode), the vendor sandbox, gunicorn web
servers and django-q2 clusters, all given the environment a production host would have
(DEBUG off, PostgreSQL, Redis, the bucket), and sharing nothing else."""

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
from django.conf import settings

from tests.generations.clusters import FAST, ROOT, Cluster, database_url
from tests.production.conftest import free_port

REGION = "eu-west-3"
BUCKET = "studio-clips"
KEYS = {"AWS_ACCESS_KEY_ID": "deploy-key", "AWS_SECRET_ACCESS_KEY": "deploy-secret"}


def s3_server(folder: Path) -> tuple[Cluster, str]:
    port = free_port()
    server = Cluster(
        folder / "s3.log",
        {**os.environ},
        ("-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)),
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_serving(endpoint, server)
    s3_client(endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return server, endpoint


def s3_client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
    )


def wait_until_serving(url: str, process: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.log_path.name} exited:\n{process.tail()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{process.tail()}")


def host_environment(folder: Path, *, s3_endpoint: str, redis_url: str, sandbox_url: str) -> dict:
    """What a production host is given (README, "Production"), with short sandbox timings."""
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_NAME"}
    env.update(
        DJANGO_SETTINGS_MODULE="seedance_site.settings",
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_S3_ENDPOINT_URL=s3_endpoint,
        AWS_S3_REGION_NAME=REGION,
        **KEYS,
        # Local disk is scratch only: anything else found under MEDIA_ROOT is a leak.
        MEDIA_ROOT=str(folder / "media"),
        CLIP_TEMP_DIR=str(folder / "scratch"),
        SANDBOX_ENABLED="true",
        SANDBOX_BASE_URL=sandbox_url,
        SANDBOX_ROOT=str(folder / "vendor-side"),
        SANDBOX_QUEUE_SECONDS="0.2",
        SANDBOX_RENDER_SCALE="0.05",
        SANDBOX_RENDER_FPS="2",
        GENERATE_RATE_PER_MINUTE="100000",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.update({name: str(value) for name, value in FAST.items()})
    (folder / "scratch").mkdir(exist_ok=True)
    return env


def web_server(folder: Path, name: str, env: dict) -> tuple[Cluster, str]:
    """The README's web command: gunicorn seedance_site.wsgi, on a port of its own."""
    port = free_port()
    server = Cluster(
        folder / f"{name}.log",
        env,
        ("-m", "gunicorn", "seedance_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2")
        + ("--no-control-socket",),  # two servers on one machine would share its path
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url + "/healthz", server)
    return server, url


def cluster(folder: Path, name: str, env: dict) -> Cluster:
    return Cluster(folder / f"{name}.log", env, ("manage.py", "qcluster"))


def manage(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
