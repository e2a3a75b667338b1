"""The production setup on one machine as if on several (run by .ci/run, on PostgreSQL):

    uv run pytest tests/deploy/check_deployment.py

An S3-compatible server (moto), PostgreSQL and Redis as they are, the vendor sandbox in
a process of its own, two gunicorn web servers and two worker clusters. Members push
DEPLOY_JOBS jobs across all five sandbox vendors through both web servers (two vendors
call back, three are polled); half-way one web server and one cluster are SIGKILLed.
A create call the kill cut off waits for an operator (its outcome is unknown; it is never
resent), who attaches the vendor's task or fails the job, as in Needs attention.
Then: every job has ended, with one vendor task and one capture each; every clip is in
the bucket with its size and checksum and plays through the surviving web server; the
ledger reconciles; and nothing but scratch was written to local disk.
"""

import hashlib
import os
import secrets
import time

import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from billing import ledger
from billing.models import Hold
from billing.models.ledger import HoldStatus
from generations import lifecycle
from generations.lifecycle.steps import task_owner
from generations.models import Clip, Generation, Project, State
from generations.sandbox.models import SandboxTask
from tests.deploy import stack
from tests.factories import MembershipFactory, TeamFactory
from tests.generations.clusters import wait_for
from tests.generations.conftest import PROTOCOLS, form_data, make_account
from tests.perf.processes import SandboxProcess

JOBS = int(os.environ.get("DEPLOY_JOBS", "200"))
VARIANTS = 4  # jobs per form post
REDIS_URL = os.environ.get("DEPLOY_REDIS_URL", "redis://127.0.0.1:6379/6")
RUN_SECONDS = (0.5, 3.0)  # each vendor task, on the sandbox clock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class Member:
    """A signed-in member's browser: a session made in the shared database, and CSRF."""

    def __init__(self, user):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "billing.teams.backends.MembershipsBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        self.csrf = secrets.token_hex(16)
        self.headers = {
            "Cookie": f"sessionid={session.session_key}; csrftoken={self.csrf}",
            "X-CSRFToken": self.csrf,
        }

    def post(self, url, data):
        return httpx.post(url, data=data, headers=self.headers, timeout=30)

    def get(self, url, **kwargs):
        return httpx.get(url, headers=self.headers, timeout=30, **kwargs)


@pytest.fixture
def deployment(tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the deployment runs on PostgreSQL")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    redis.Redis.from_url(REDIS_URL).flushdb()
    started = []
    s3, endpoint = stack.s3_server(tmp_path)
    started.append(s3)
    base = stack.host_environment(
        tmp_path, s3_endpoint=endpoint, redis_url=REDIS_URL, sandbox_url=""
    )
    sandbox = SandboxProcess(tmp_path, {**base, "LOG_LEVEL": "WARNING"}, RUN_SECONDS)
    env = {**base, "SANDBOX_BASE_URL": sandbox.url, "STATIC_ROOT": str(tmp_path / "static")}
    try:
        for command in (("migrate", "--noinput"), ("collectstatic", "--noinput")):
            done = stack.manage(env, *command)  # as the README says, before the servers
            assert done.returncode == 0, done.stdout + done.stderr
        web_b, url_b = stack.web_server(tmp_path, "web-b", env)
        started.append(web_b)
        env["PUBLIC_BASE_URL"] = url_b  # vendors call back to the server that stays up
        web_a, url_a = stack.web_server(tmp_path, "web-a", env)
        started.append(web_a)
        clusters = [stack.cluster(tmp_path, f"cluster-{n}", env) for n in (1, 2)]
        started.extend(clusters)
        yield {
            "s3": stack.s3_client(endpoint),
            "env": env,
            "sandbox": sandbox,
            "web": [(web_a, url_a), (web_b, url_b)],
            "clusters": clusters,
            "folder": tmp_path,
        }
    finally:
        for process in reversed(started):
            process.kill()
        sandbox.stop()


def test_jobs_survive_a_lost_web_server_and_a_lost_cluster(deployment, operator):
    (web_a, url_a), (web_b, url_b) = deployment["web"]
    clusters = deployment["clusters"]
    for url in (url_a, url_b):
        ready = httpx.get(url + "/readyz", timeout=60)  # a worker's first loads boto3
        assert ready.status_code == 200, ready.text
    team = TeamFactory(name="Deploy Pictures")
    user = MembershipFactory(team=team, owner=True).user
    ledger.grant(team, 10**6 * 10**5, by=operator, memo="Deploy budget", key="deploy")
    project = Project.objects.create(team=team, name="Deploy", created_by=user)
    accounts = [make_account(p, deployment["sandbox"].url, max_concurrent=JOBS) for p in PROTOCOLS]
    member = Member(user)

    posts = JOBS // VARIANTS
    began = time.monotonic()
    for n in range(posts):
        if n == posts // 2:
            web_a.kill()  # SIGKILL, as a lost machine
            clusters[0].kill()
        url = url_a if n % 2 and web_a.alive else url_b
        account = accounts[n % len(accounts)]
        data = form_data(project, account=str(account.uuid), variants=str(VARIANTS))
        data["prompt"] = f"Deploy take {n} via {account.protocol}"
        response = member.post(url + "/generate/", data)
        assert response.status_code == 302, response.text[:500]
    assert Generation.objects.count() == JOBS

    def all_ended(but=()):
        return not Generation.objects.active().exclude(state__in=but).exists()

    wait_for(
        lambda: all_ended(but=[State.NEEDS_ATTENTION]),
        240,
        "every job to end or wait for an operator",
        clusters=[clusters[1]],
        interval=1.0,
    )
    settled = settle_as_an_operator(operator)
    wait_for(all_ended, 120, "every job to end", clusters=[clusters[1]], interval=1.0)
    elapsed = time.monotonic() - began
    print(
        f"\n{JOBS} jobs through 2 web servers and 2 clusters (one of each lost): {elapsed:.0f} s;"
        f" {settled} cut off during their create call, settled by an operator"
    )

    check_jobs_and_money(team)
    check_bucket(deployment["s3"])
    check_playback(member, url_b)
    reconciled = stack.manage(deployment["env"], "reconcile_ledger")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    check_local_disk(deployment["folder"])


def settle_as_an_operator(operator) -> int:
    """A create call cut off by the kill has an unknown outcome: the job waits in Needs
    attention, never resent. The operator looks at the vendor (the sandbox's tasks) and
    attaches the task it made, or fails the job when it made none."""
    jobs = list(
        Generation.objects.filter(state=State.NEEDS_ATTENTION).select_related("vendor_account")
    )
    for generation in jobs:
        _settle_one(generation, operator)
    return len(jobs)


def _settle_one(generation, operator) -> None:
    """As an operator would. The variants of one submission share their prompt, so the
    vendor's task for this job is the one its own story names (a create accepted as that
    task, whose saving the kill cut off), else one of that prompt no job has or names
    (another variant's story may name one: the app refuses to attach it here). The
    surviving cluster still follows callbacks, so a late one may attach a task between
    the operator's look and their click: the app then says the task belongs to another
    job, and the operator looks again."""
    for _ in range(5):
        generation.refresh_from_db()
        if generation.state != State.NEEDS_ATTENTION:
            return  # a callback found the job's task meanwhile
        taken = Generation.objects.exclude(vendor_task_id="").values_list("vendor_task_id")
        candidates = SandboxTask.objects.filter(
            protocol=generation.vendor_account.protocol, prompt=generation.prompt
        ).exclude(task_id__in=taken)
        named = {event.data.get("vendor_task_id") for event in generation.events.all()}
        task = next(
            (
                t
                for t in sorted(candidates, key=lambda t: (t.task_id not in named, t.pk))
                if task_owner(generation, t.task_id) is None
            ),
            None,
        )
        try:
            if task:
                lifecycle.resolve_attach(generation, task.task_id, operator)
            else:
                lifecycle.resolve_failed(generation, operator)
            return
        except lifecycle.ResolveRefused as refused:
            print(f"\n{generation}: {refused}; looking again")
            time.sleep(1)
    raise AssertionError(f"{generation} could not be settled")


def check_jobs_and_money(team) -> None:
    states = {}
    for state in Generation.objects.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    assert set(states) <= {State.SUCCEEDED, State.FAILED}, states
    assert states.get(State.FAILED, 0) <= 2, states  # only creates the kill cut off
    succeeded = states[State.SUCCEEDED]
    # One vendor task for each job that reached a vendor, none sent twice.
    task_ids = [t for t in Generation.objects.values_list("vendor_task_id", flat=True) if t]
    assert len(task_ids) == len(set(task_ids)) == SandboxTask.objects.count()
    holds = Hold.objects.filter(team=team)
    assert holds.count() == JOBS
    assert holds.filter(status=HoldStatus.CAPTURED).count() == succeeded
    assert holds.filter(status=HoldStatus.PENDING).count() == 0


def check_bucket(s3) -> None:
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.BUCKET):
        listed.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    clips = list(Clip.objects.all())
    assert len(clips) == Generation.objects.filter(state=State.SUCCEEDED).count()
    for clip in clips:
        assert listed.get(clip.file.name) == clip.bytes, clip.file.name
        assert clip.poster.name in listed
        body = s3.get_object(Bucket=stack.BUCKET, Key=clip.file.name)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == clip.sha256
    assert len(listed) == 2 * len(clips)  # a clip and a poster each, nothing half-written
    assert s3.list_multipart_uploads(Bucket=stack.BUCKET).get("Uploads", []) == []


def check_playback(member, url) -> None:
    for clip in Clip.objects.select_related("generation"):
        response = member.get(f"{url}/clips/{clip.generation.uuid}/video.mp4")
        assert response.status_code == 302, response.status_code
        played = httpx.get(response.headers["location"], headers={"Range": "bytes=0-"})
        assert played.status_code in (200, 206)
        assert hashlib.sha256(played.content).hexdigest() == clip.sha256


def check_local_disk(folder) -> None:
    media = folder / "media"
    left = [str(p) for p in media.rglob("*") if p.is_file()] if media.exists() else []
    assert left == [], left
