"""The sandbox's engine: state that survives a restart, ticking, the clip files."""

import http.server
import threading
import time

import av
import pytest

from generations.sandbox import callbacks, engine, rendering
from generations.sandbox.models import SandboxTask

CREATE = "evolink/v1/videos/generations"


def query_path(task_id):
    return f"evolink/v1/tasks/{task_id}"


def create(api, **fields):
    payload = {"model": "seedance-2.0-text-to-video", "prompt": "A cat plays the piano"} | fields
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def status(api, task_id):
    return api.get(query_path(task_id)).json()["status"]


# Restarts.


def test_a_restarted_process_answers_from_the_stored_timeline(api):
    task_id = create(api)
    api.advance(task_id, 20)
    engine.reset_process_state()
    assert status(api, task_id) == "processing"
    api.finish(task_id)
    before = api.get(query_path(task_id)).json()
    engine.reset_process_state()
    assert api.get(query_path(task_id)).json() == before


def test_a_render_lost_with_its_process_is_resumed_on_the_next_query(api, probe):
    task_id = create(api, duration=4)
    engine.wait_for_background()
    task = api.task(task_id)
    task.output_path.unlink()  # the process died before the clip was written
    engine.reset_process_state()
    api.finish(task_id)

    assert status(api, task_id) == "processing"  # done on the clock, no clip yet
    engine.wait_for_background()
    done = api.get(query_path(task_id)).json()
    assert done["status"] == "completed"
    assert abs(probe(done["results"][0]).duration - 4) <= 0.5


def test_a_callback_owed_before_a_restart_goes_out_on_the_next_tick(
    api, callbacks_sent, deliver_callbacks
):
    task_id = create(api, callback_url="https://app.example.com/hooks/e")
    api.finish(task_id)
    engine.reset_process_state()
    deliver_callbacks()
    assert [body["id"] for body in callbacks_sent.bodies] == [task_id]


def test_a_tick_sends_each_callback_once_and_then_leaves_the_task_alone(
    api, callbacks_sent, deliver_callbacks
):
    task_id = create(api, callback_url="https://app.example.com/hooks/e")
    api.finish(task_id)
    deliver_callbacks()
    deliver_callbacks()
    api.get(query_path(task_id))
    assert len(callbacks_sent.requests) == 1
    assert api.task(task_id).settled_at is not None
    assert engine.sandbox_tick() == 0


def test_a_tick_renders_clips_of_tasks_nobody_asked_about(api):
    task_id = create(api, duration=4)
    engine.wait_for_background()
    api.task(task_id).output_path.unlink()
    engine.reset_process_state()
    assert engine.sandbox_tick() == 1
    engine.wait_for_background()
    assert api.task(task_id).output_path.exists()


@pytest.mark.django_db(transaction=True)
def test_with_autotick_on_a_callback_goes_out_without_anyone_polling(api, settings, callbacks_sent):
    settings.SANDBOX_AUTOTICK = True
    settings.SANDBOX_QUEUE_SECONDS = 0.05
    settings.SANDBOX_RUN_SECONDS = 0.2
    task_id = create(api, duration=4, callback_url="https://app.example.com/hooks/e")
    deadline = time.monotonic() + 10
    while not callbacks_sent.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.wait_for_background()
    assert [body["status"] for body in callbacks_sent.bodies] == ["completed"]
    assert callbacks_sent.bodies[0]["id"] == task_id


def test_backdate_accepts_a_task_id(api):
    task_id = create(api)
    engine.backdate(task_id, 3600)
    engine.wait_for_background()
    assert status(api, task_id) == "completed"


# The clip files.


@pytest.fixture
def clip_url(api):
    task_id = create(api, duration=4)
    api.finish(task_id)
    return api.get(query_path(task_id)).json()["results"][0]


def test_the_output_url_is_absolute_on_the_public_base_url(api, settings, clip_url):
    assert clip_url.startswith("http://testserver/sandbox/files/") and clip_url.endswith(".mp4")
    settings.PUBLIC_BASE_URL = "https://studio.example.com/"
    task = SandboxTask.objects.get()
    assert (
        engine.output_url(task)
        == f"https://studio.example.com/sandbox/files/{task.output_token}.mp4"
    )


def test_a_whole_clip_is_served_with_accept_ranges(api, clip_url):
    response, content = api.download(clip_url)
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert int(response["Content-Length"]) == len(content) > 1000


@pytest.mark.parametrize(
    "header, first, last",
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", None, None)],
)
def test_a_byte_range_is_a_206_with_those_bytes(api, clip_url, header, first, last):
    _, whole = api.download(clip_url)
    size = len(whole)
    response, part = api.download(clip_url, HTTP_RANGE=header)
    assert response.status_code == 206
    if first is None:  # the last 50 bytes
        first, last = size - 50, size - 1
    last = size - 1 if last is None else last
    assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert part == whole[first : last + 1]


def test_a_range_past_the_end_is_a_416(api, clip_url):
    response, _ = api.download(clip_url, HTTP_RANGE="bytes=99999999-")
    assert response.status_code == 416
    assert response["Content-Range"].startswith("bytes */")


def test_head_gives_the_size_without_the_body(api, clip_url):
    _, whole = api.download(clip_url)
    response = api.client.head(clip_url.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(whole))
    assert response.content == b""


def test_an_unknown_clip_is_a_404(api):
    assert api.client.get("/sandbox/files/nothing-here.mp4").status_code == 404


def test_a_clip_not_rendered_yet_is_a_404(api):
    task_id = create(api)
    engine.wait_for_background()
    task = api.task(task_id)
    task.output_path.unlink()
    assert api.client.get(f"/sandbox/files/{task.output_token}.mp4").status_code == 404


# The requests themselves.


def test_create_wants_a_post_and_answers_other_methods_in_the_vendors_words(api):
    response = api.get(CREATE)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["message"] == "Method not allowed"


def test_the_vendor_views_need_no_csrf_token(api):
    api.client.handler.enforce_csrf_checks = True
    assert (
        api.post(CREATE, {"model": "seedance-2.0-text-to-video", "prompt": "x"}).status_code == 200
    )


# Rendering.


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"])
@pytest.mark.parametrize("resolution", ["480p", "720p", "1080p", "4k"])
def test_render_sizes_keep_the_aspect_ratio_and_are_even(resolution, ratio):
    width, height = rendering.scaled_size(resolution, ratio, 0.25)
    nominal_width, nominal_height = rendering.nominal_size(resolution, ratio)
    assert width % 2 == 0 and height % 2 == 0
    assert abs(width / height - nominal_width / nominal_height) < 0.05


def test_a_15_second_720p_clip_with_sound_renders_quickly_at_the_default_scale(tmp_path):
    width, height = rendering.scaled_size("720p", "16:9", 0.25)
    assert (width, height) == (320, 180)
    started = time.monotonic()
    path = rendering.render_clip(
        tmp_path / "clip.mp4", width=320, height=180, duration=15, fps=10, text="A kite", audio=True
    )
    assert time.monotonic() - started < 3
    with av.open(str(path)) as container:
        assert abs(container.duration / 1_000_000 - 15) <= 0.5
        video = container.streams.video[0]
        assert video.codec_context.name == ("h264" if "libx264" in av.codecs_available else "mpeg4")
        assert video.codec_context.pix_fmt == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert not list(tmp_path.glob("*.part.mp4"))


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "seedance-2.0-text-to-video", "prompt": "A cat\x00"},
        {"model": "seedance-2.0-text-to-video", "prompt": "A cat", "extra": ["\x00"]},
    ],
)
def test_a_nul_character_anywhere_is_a_400_on_every_database(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Request body contains a NUL character"
    assert not SandboxTask.objects.exists()


# Served by another process.


def test_a_process_told_the_sandbox_lives_elsewhere_never_ticks_it(api, settings):
    task_id = create(api, duration=4)
    engine.wait_for_background()
    api.task(task_id).output_path.unlink()
    engine.reset_process_state()
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9"
    assert engine.sandbox_tick() == 0
    engine.wait_for_background()
    assert not api.task(task_id).output_path.exists()  # its own server renders it


def test_clips_render_in_a_process_of_their_own_when_asked(api, settings, probe, monkeypatch):
    settings.SANDBOX_RENDER_PROCESSES = 1

    def on_this_process(*args, **kwargs):
        raise AssertionError("rendered on a thread of the serving process")

    # The pool's process imports the module afresh, without this.
    monkeypatch.setattr(rendering, "render_clip", on_this_process)
    task_id = create(api, duration=4)
    assert engine.wait_for_background(60)
    api.finish(task_id)
    done = api.get(query_path(task_id)).json()
    assert done["status"] == "completed"
    assert abs(probe(done["results"][0]).duration - 4) <= 0.5


def test_every_callback_goes_out_through_one_client_with_its_vendors_timeout(
    callbacks_sent, monkeypatch
):
    made = []
    real = callbacks.httpx.Client

    def counting(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(callbacks.httpx, "Client", counting)
    for n in range(3):
        callbacks.deliver(f"https://app.example.com/hooks/{n}", {"id": n}, timeout=7.5)
    assert len(made) == 1
    assert len(callbacks_sent.requests) == 3
    assert all(r.extensions["timeout"]["read"] == 7.5 for r in callbacks_sent.requests)


def test_a_callback_keeps_no_connection_open_to_the_app():
    closed = threading.Event()

    class Webhook(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the connection unless the client closes it

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def finish(self):
            super().finish()
            closed.set()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/e"
        callbacks.deliver(url, {"id": "task-1"}, timeout=5)
        assert closed.wait(5), "the callback's connection was kept open"
    finally:
        server.shutdown()
