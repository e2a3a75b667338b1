"""Fixtures for the sandbox's own tests: tiny clips, a clock that only moves when a
test backdates a task, a client that speaks to /sandbox/<vendor>/, and a catcher for
callbacks (the one seam: an httpx.MockTransport in generations.sandbox.callbacks)."""

import io
import json
from dataclasses import dataclass

import av
import httpx
import pytest

from generations.sandbox import callbacks, engine
from generations.sandbox import faults as fault_rules
from generations.sandbox.models import SandboxTask

KEY = "sk-sandbox-team-a"
OTHER_KEY = "sk-sandbox-team-b"


@pytest.fixture(autouse=True)
def sandbox_settings(settings, tmp_path):
    # Long enough that nothing moves on its own during a test: tests backdate tasks.
    settings.SANDBOX_QUEUE_SECONDS = 10.0
    settings.SANDBOX_RUN_SECONDS = 20.0
    settings.SANDBOX_RENDER_SCALE = 0.1
    settings.SANDBOX_RENDER_FPS = 8
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    settings.SANDBOX_AUTOTICK = False
    settings.SANDBOX_HANG_SECONDS = 0.05
    settings.PUBLIC_BASE_URL = "http://testserver"
    yield
    engine.wait_for_background()
    engine.reset_process_state()


@pytest.fixture
def slept(monkeypatch):
    """Sleeps the sandbox asked for on request threads, instead of sleeping."""
    seconds = []
    monkeypatch.setattr(fault_rules, "sleep", lambda s: seconds.append(s) if s else None)
    return seconds


class SandboxAPI:
    def __init__(self, client):
        self.client = client

    @staticmethod
    def auth(path, key):
        # fal takes "Key <key>"; every other vendor a bearer key.
        scheme = "Key" if path.startswith("fal/") else "Bearer"
        return {"HTTP_AUTHORIZATION": f"{scheme} {key}"} if key else {}

    def post(self, path, body=None, *, key=KEY, raw=None):
        headers = self.auth(path, key)
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            f"/sandbox/{path}", data=data, content_type="application/json", **headers
        )

    def get(self, path, *, key=KEY, **params):
        headers = self.auth(path, key)
        return self.client.get(f"/sandbox/{path}", params, **headers)

    def task(self, task_id) -> SandboxTask:
        return SandboxTask.objects.get(task_id=task_id)

    def advance(self, task_id, seconds):
        """Let `seconds` pass for the task, and let its clip finish rendering."""
        engine.backdate(self.task(task_id), seconds)
        engine.wait_for_background()

    def finish(self, task_id):
        self.advance(task_id, 3600)

    def download(self, url, **headers):
        assert url.startswith("http://testserver/sandbox/files/")
        response = self.client.get(url.removeprefix("http://testserver"), **headers)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return response, content


@pytest.fixture
def api(client, db):
    return SandboxAPI(client)


@dataclass
class Clip:
    duration: float
    width: int
    height: int
    has_audio: bool
    video_codec: str


@pytest.fixture
def probe(api):
    def probe_clip(url) -> Clip:
        response, content = api.download(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "video/mp4"
        with av.open(io.BytesIO(content)) as container:
            video = container.streams.video[0]
            return Clip(
                duration=container.duration / 1_000_000,
                width=video.codec_context.width,
                height=video.codec_context.height,
                has_audio=bool(container.streams.audio),
                video_codec=video.codec_context.name,
            )

    return probe_clip


class CallbackCatcher:
    """Stands in for the app's webhook endpoint; answers with `statuses` in turn."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []
        self.pauses: list[float] = []

    def handle(self, request):
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, json={"ok": status < 400})

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(request.content) for request in self.requests]

    @property
    def urls(self) -> list[str]:
        return [str(request.url) for request in self.requests]


@pytest.fixture
def callbacks_sent(monkeypatch):
    catcher = CallbackCatcher()
    monkeypatch.setattr(callbacks, "transport", httpx.MockTransport(catcher.handle))
    monkeypatch.setattr(callbacks, "pause", catcher.pauses.append)
    return catcher


@pytest.fixture
def deliver_callbacks():
    """Run one sandbox tick, as the app's workers would, and let its callbacks go out."""

    def tick():
        engine.sandbox_tick()
        engine.wait_for_background()

    return tick
