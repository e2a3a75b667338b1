"""The sandbox takes each vendor's media fields as its document does, downloads them
when it takes the task, fails the task when one cannot be had, and renders a clip that
shows them: the first frame is the first-frame image, the last the last-frame image."""

import io

import av
import httpx
import pytest
from PIL import ImageStat

from generations.sandbox import engine, media, rendering

RED, BLUE, GREEN, YELLOW = (220, 30, 30), (30, 40, 220), (30, 200, 60), (230, 220, 20)
TOLERANCE = 14

EVOLINK = "evolink/v1/videos/generations"
INK = "seedance2_ink/api/open/v1/video/generations"
ORG = "seedanceapi_org/v2/generate"


def evolink_body(mode="image", **fields):
    return {"model": f"seedance-2.0-{mode}-to-video", "prompt": "A lighthouse at dusk"} | fields


def ink_body(media_urls):
    return {"model": "seedance-2.0", "prompt": "A lighthouse at dusk", "mediaUrls": media_urls}


def org_body(**fields):
    return {"model": "seedance-2-mini", "prompt": "A lighthouse at dusk", "duration": 4} | fields


def frames_of(api, url) -> list:
    _, content = api.download(url)
    with av.open(io.BytesIO(content)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def mean(image) -> tuple:
    return tuple(ImageStat.Stat(image.convert("RGB")).mean)


def close(colour, expected) -> bool:
    return all(abs(got - want) <= TOLERANCE for got, want in zip(colour, expected, strict=True))


# --- the documented counts and refusals ----------------------------------------------


@pytest.mark.parametrize(
    "payload, param, message",
    [
        (
            evolink_body("text", image_urls=["https://x.example/a.png"]),
            "image_urls",
            "seedance-2.0-text-to-video does not support image_urls",
        ),
    ],
)
def test_evolink_refuses_media_counts_as_documented(api, media_host, payload, param, message):
    response = api.post(EVOLINK, payload)
    assert response.status_code == 400
    assert response.json()["error"] | {"code": None} == {
        "code": None,
        "message": message,
        "type": "invalid_request_error",
        "param": param,
    }
    assert media_host.requested == []


@pytest.mark.parametrize(
    "media_urls, message",
    [
        ([f"https://x.example/{n}.png" for n in range(6)], "mediaUrls accepts at most 5 items"),
        (["http://x.example/a.png"], "mediaUrls must be an array of public HTTPS URLs"),
    ],
)
def test_seedance2_ink_refuses_media_as_documented(api, media_urls, message):
    response = api.post(INK, ink_body(media_urls))
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {"code": "invalid_request", "message": message},
    }


def test_seedance2_ink_takes_and_downloads_five_media_files(api, media_host):
    urls = [f"https://x.example/{n}.png" for n in range(4)] + ["https://x.example/m.mp4"]
    assert api.post(INK, ink_body(urls)).status_code == 200
    engine.wait_for_background()
    assert media_host.requested == urls


# --- downloads: a URL that cannot be had fails the task --------------------------------


def test_a_first_frame_that_is_gone_fails_the_task_in_the_vendors_words(api, media_host):
    url = media_host.fail("https://assets.example/first.png?signature=s3cret", 404)
    response = api.post(EVOLINK, evolink_body(image_urls=[url]))
    assert response.status_code == 200  # taken; it fails once it starts
    task_id = response.json()["id"]
    assert api.get(f"evolink/v1/tasks/{task_id}").json()["status"] == "pending"
    api.advance(task_id, 3600)
    answer = api.get(f"evolink/v1/tasks/{task_id}").json()
    assert answer["status"] == "failed"
    assert answer["error"] == {
        "code": "invalid_media",
        "message": "Could not download the first frame image "
        "(https://assets.example/first.png): the server answered HTTP 404",
    }
    assert "results" not in answer


def test_a_reference_video_that_is_gone_fails_a_seedanceapi_org_task(api, media_host):
    video = media_host.fail("https://assets.example/motion.mp4", 403)
    response = api.post(ORG, org_body(reference_video_urls=[video]))
    task_id = response.json()["data"]["task_id"]
    api.advance(task_id, 3600)
    data = api.get("seedanceapi_org/v2/status", task_id=task_id).json()["data"]
    assert data["status"] == "FAILED"
    assert data["error_message"] == (
        "Could not download a reference video (https://assets.example/motion.mp4): "
        "the server answered HTTP 403"
    )


def test_a_file_that_is_not_an_image_fails_the_task(api, media_host):
    url = media_host.serve("https://assets.example/first.png", b"<html>login</html>")
    task_id = api.post(INK, ink_body([url])).json()["requestId"]
    api.advance(task_id, 3600)
    answer = api.get(f"seedance2_ink/api/open/v1/video/generations/{task_id}").json()
    assert answer["status"] == "failed"
    assert answer["error"]["message"] == (
        "The first frame image (https://assets.example/first.png) is not an image"
    )


def test_a_file_larger_than_the_cap_fails_the_task(api, media_host, settings):
    settings.SANDBOX_MEDIA_MAX_BYTES = 1024 * 1024
    url = media_host.serve("https://assets.example/huge.mp4", b"\x00" * (1024 * 1024 + 1))
    body = evolink_body("reference", image_urls=["https://assets.example/a.png"], video_urls=[url])
    task_id = api.post(EVOLINK, body).json()["id"]
    api.advance(task_id, 3600)
    error = api.get(f"evolink/v1/tasks/{task_id}").json()["error"]
    assert error["message"].endswith("it is larger than 1 MB")


def test_a_download_that_times_out_fails_the_task(api, monkeypatch):
    def hang(request):
        raise httpx.ReadTimeout("slow", request=request)

    monkeypatch.setattr(media, "transport", httpx.MockTransport(hang))
    task_id = api.post(EVOLINK, evolink_body(image_urls=["https://a.example/1.png"])).json()["id"]
    api.advance(task_id, 3600)
    error = api.get(f"evolink/v1/tasks/{task_id}").json()["error"]
    assert error["message"] == (
        "Could not download the first frame image (https://a.example/1.png): it timed out"
    )


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1:8000/admin/", "The address 127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/", "The address 169.254.169.254 is a cloud metadata"),
        ("http://10.1.2.3/x.png", "The address 10.1.2.3 is a private address"),
    ],
)
def test_it_fetches_nothing_from_a_private_address_but_the_apps_own(api, monkeypatch, url, words):
    monkeypatch.setattr(media, "transport", None)  # the real network path, checked
    task_id = api.post(EVOLINK, evolink_body(image_urls=[url])).json()["id"]
    api.advance(task_id, 3600)
    error = api.get(f"evolink/v1/tasks/{task_id}").json()["error"]
    assert error["message"].startswith(f"Could not download the first frame image ({url}): {words}")


def test_it_downloads_every_url_of_the_task(api, media_host):
    urls = ["https://a.example/1.png", "https://a.example/2.png", "https://a.example/m.mp4"]
    api.post(EVOLINK, evolink_body("reference", image_urls=urls[:2], video_urls=urls[2:]))
    engine.wait_for_background()
    assert media_host.requested == urls


# --- the clip shows the images ----------------------------------------------------------


def test_the_first_frame_is_the_first_frame_image(api, media_host):
    url = media_host.image("https://assets.example/first.png", GREEN, size=(300, 500))
    task_id = api.post(INK, ink_body([url])).json()["requestId"]
    api.finish(task_id)
    answer = api.get(f"seedance2_ink/api/open/v1/video/generations/{task_id}").json()
    frames = frames_of(api, answer["output"]["url"])
    assert close(mean(frames[0]), GREEN)
    assert not close(mean(frames[-1]), GREEN)


def test_first_and_last_frames_are_the_two_images(api, media_host):
    first = media_host.image("https://assets.example/first.png", RED)
    last = media_host.image("https://assets.example/last.png", BLUE)
    task_id = api.post(EVOLINK, evolink_body(image_urls=[first, last])).json()["id"]
    api.finish(task_id)
    frames = frames_of(api, api.get(f"evolink/v1/tasks/{task_id}").json()["results"][0])
    assert close(mean(frames[0]), RED)
    assert close(mean(frames[-1]), BLUE)


def test_reference_images_show_in_the_middle_of_the_clip(api, media_host):
    reference = media_host.image("https://assets.example/style.png", YELLOW)
    body = org_body(images=[reference], reference_audio_urls=["https://assets.example/a.mp3"])
    task_id = api.post(ORG, body).json()["data"]["task_id"]
    api.finish(task_id)
    data = api.get("seedanceapi_org/v2/status", task_id=task_id).json()["data"]
    frames = frames_of(api, data["response"][0])
    middle = mean(frames[len(frames) // 2])
    # 80 % reference over the pattern at the middle: far nearer yellow than the start.
    assert sum(abs(a - b) for a, b in zip(middle, YELLOW, strict=True)) < sum(
        abs(a - b) for a, b in zip(mean(frames[0]), YELLOW, strict=True)
    )
    assert middle[2] < 90  # yellow has little blue; the pattern alone has plenty


def test_a_clip_whose_kept_image_is_gone_still_renders(tmp_path):
    clip = rendering.render_clip(
        tmp_path / "clip.mp4",
        width=32,
        height=18,
        duration=0.5,
        fps=4,
        text="x",
        audio=False,
        first_frame=str(tmp_path / "gone.png"),
        references=[str(tmp_path / "gone-too.png")],
    )
    assert clip.stat().st_size > 0


def test_the_callback_tells_of_a_media_failure(api, media_host, callbacks_sent, deliver_callbacks):
    url = media_host.fail("https://assets.example/first.png", 410)
    body = ink_body([url]) | {"webhookUrl": "http://127.0.0.1:8000/hooks/i"}
    task_id = api.post(INK, body).json()["requestId"]
    api.advance(task_id, 15)  # started (queued for 10 s), not yet at its planned end
    deliver_callbacks()
    [sent] = callbacks_sent.bodies
    assert (sent["requestId"], sent["status"]) == (task_id, "failed")
    assert sent["error"]["message"] == (
        "Could not download the first frame image (https://assets.example/first.png): "
        "the server answered HTTP 410"
    )


def test_an_image_declaring_more_pixels_than_vendors_take_fails_the_task_undecoded(
    api, media_host, settings
):
    # A few hundred kilobytes of PNG can declare 150 megapixels (Pillow only warns below
    # twice its own limit, and converting to RGB would take 450 MB of the render thread).
    settings.SANDBOX_MEDIA_MAX_PIXELS = 1000
    url = media_host.image("https://assets.example/bomb.png", RED, size=(64, 36))
    task_id = api.post(EVOLINK, evolink_body(image_urls=[url])).json()["id"]
    api.advance(task_id, 3600)
    error = api.get(f"evolink/v1/tasks/{task_id}").json()["error"]
    assert error["message"] == (
        "The first frame image (https://assets.example/bomb.png) is 64×36 pixels, more than 1,000"
    )


def test_a_url_that_does_not_parse_is_a_bad_request(api):
    response = api.post(EVOLINK, evolink_body(image_urls=["https://[::1/first.png"]))
    assert response.status_code == 400


def test_a_url_httpx_cannot_even_try_fails_the_task_instead_of_leaving_it_running(api, monkeypatch):
    url = "https://xn--/first.png"  # IDNA refuses the host
    # Raised past the download's own handling, it left neither a clip nor a failure: the
    # task stayed "processing" at 99% for ever, downloading again at every poll.
    monkeypatch.setattr(media, "transport", None)
    task_id = api.post(EVOLINK, evolink_body(image_urls=[url])).json()["id"]
    api.advance(task_id, 3600)
    answer = api.get(f"evolink/v1/tasks/{task_id}").json()
    assert answer["status"] == "failed"
    assert answer["error"]["message"] == (
        f"Could not download the first frame image ({url}): it is not an address that can "
        "be fetched"
    )
