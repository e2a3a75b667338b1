import time

import pytest

from billing import ledger
from billing.models import Hold
from generations import lifecycle, routing
from generations.models import Generation, VendorAccount
from generations.vendors import DEFAULT_CREDIT_VALUE, REGISTRY, VideoRequest, default_price_rules
from tests.generations.factories import VendorAccountFactory

PROTOCOLS = list(REGISTRY)  # every vendor the product speaks
PROMPT = "A lighthouse keeper climbs the spiral stairs at dusk, handheld, warm lamplight"


@pytest.fixture
def sandbox(live_server, settings, tmp_path):
    """The app's own sandbox over real HTTP, fast enough for tests."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    settings.SANDBOX_QUEUE_SECONDS = 0.1
    settings.SANDBOX_RUN_SECONDS = 0.4
    settings.SANDBOX_RENDER_SCALE = 0.1
    settings.SANDBOX_HANG_SECONDS = 3
    settings.GENERATION_POLL_FIRST_SECONDS = 0.1
    settings.GENERATION_POLL_MAX_SECONDS = 0.3
    settings.VENDOR_COOLDOWN_SECONDS = 0.5
    settings.VENDOR_READ_TIMEOUT_SECONDS = 1.0
    routing.shared_client.cache_clear()
    yield live_server.url
    # Closed, not just forgotten: a kept-alive connection keeps a live-server thread,
    # and with it a database session that would block dropping the test database.
    routing.shared_client().close()
    routing.shared_client.cache_clear()


def make_account(protocol, base, *, label=None, key="sk-sandbox-test", **fields):
    account = VendorAccount(
        protocol=protocol,
        label=label or f"{protocol} sandbox",
        base_url=f"{base}/sandbox/{protocol}",
        credit_value=DEFAULT_CREDIT_VALUE[protocol],
        price_rules=default_price_rules(protocol),
        **fields,
    )
    account.set_api_key(key)
    account.save()
    return account


@pytest.fixture
def kinovi(db):
    return VendorAccountFactory(protocol="kinovi", label="Kinovi main")


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 100_000_000, by=operator, memo="Test budget", key="test-grant")
    return team


@pytest.fixture
def project(team, owner):
    from generations.models import Project

    return Project.objects.create(team=team, name="Trailer", created_by=owner)


def text_request(prompt="A red fox runs through snow", **kw):
    kw.setdefault("family", "seedance-2.0")
    kw.setdefault("duration", 5)
    kw.setdefault("resolution", "720p")
    kw.setdefault("aspect_ratio", "16:9")
    return VideoRequest(prompt=prompt, **kw)


def drive(generation, seconds=20.0, until=Generation.FINISHED):
    """Run sweeps as the worker would until the generation reaches one of `until`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.state in until:
            return generation
        lifecycle.sweep()
        time.sleep(0.05)
    generation.refresh_from_db()
    return generation


def form_data(for_project, **overrides):
    """A valid POST of the generate form for one 5 s Seedance 2.0 clip in `for_project`
    (named so that a test can still override the form's own `project` field)."""
    data = {
        "prompt": PROMPT,
        "family": "seedance-2.0",
        "account": "",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "project": str(for_project.uuid),
        "scene": "",
        "new_scene": "",
        "variants": "1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def checks_run_inline(monkeypatch):
    """A callback's check runs at once, as an idle worker would; submits are driven by hand."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: lifecycle.check(pk))


def submit_one(team, member, project, prompt="A lighthouse at dusk", **kw):
    """One clip of `prompt`, submitted as the Generate page would."""
    [generation] = lifecycle.submit(
        team=team, member=member, project=project, request=text_request(prompt, **kw)
    )
    return generation


def hold_of(generation):
    return Hold.objects.get(pk=generation.hold_id)


def kinds(generation):
    """The kinds of a job's events, in order: its story in one line."""
    return list(generation.events.values_list("kind", flat=True))
