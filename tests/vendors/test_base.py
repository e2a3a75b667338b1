import json
import logging
import pickle
from decimal import Decimal

import httpx
import pytest

from generations.vendors import (
    DEFAULT_CREDIT_VALUE,
    DEFAULT_PRICE_RULES,
    REGISTRY,
    ErrorKind,
    Family,
    Mode,
    TaskState,
    VendorError,
    VideoRequest,
    default_price_rules,
    get_adapter,
    make_client,
)
from generations.vendors.bounds import is_public_url
from generations.vendors.parsing import describe_seconds, join_choices
from generations.vendors.pricing import PriceRuleError, check_price_rules, quote_credits

KEY = "sk-live-SECRET-0123456789abcdef"
PLAIN = VideoRequest(family="seedance-2.0", prompt="A red kite over a beach")

# A body each vendor accepts as "created" and one it reads as a running task.
CREATED = {
    "kinovi": {"taskId": "task_1"},
    "seedance2_ink": {
        "success": True,
        "requestId": "req_1",
        "status": "queued",
        "creditsCharged": 40,
    },
    "seedanceapi_org": {
        "code": 200,
        "message": "success",
        "data": {"task_id": "t1", "status": "IN_PROGRESS"},
    },
    "evolink": {"id": "task-unified-1", "status": "pending", "progress": 0},
    "aigptimage": {"code": 200, "msg": "success", "data": {"taskId": "task_1"}},
    "byteplus_ark": {"id": "cgt-1"},
    "fal": {
        "request_id": "r1",
        "status_url": "https://queue.fal.run/bytedance/seedance-2.0/requests/r1/status",
        "response_url": "https://queue.fal.run/bytedance/seedance-2.0/requests/r1",
        "cancel_url": "https://queue.fal.run/bytedance/seedance-2.0/requests/r1/cancel",
        "queue_position": 0,
    },
    "replicate": {"id": "p1", "status": "starting", "output": None, "error": None},
}
PROTOCOLS = list(REGISTRY)


def adapter_for(protocol, fake):
    return get_adapter(protocol, KEY, client=fake.client)


def test_the_registry_holds_the_eight_vendors():
    assert set(REGISTRY) == {
        "kinovi",
        "seedance2_ink",
        "seedanceapi_org",
        "evolink",
        "aigptimage",
        "byteplus_ark",
        "fal",
        "replicate",
    }
    for protocol, adapter_class in REGISTRY.items():
        assert adapter_class.protocol == protocol
        assert adapter_class.label and adapter_class.default_base_url.startswith("https://")
        assert adapter_class.families


def test_get_adapter_uses_the_given_base_url_without_a_trailing_slash(vendor):
    adapter = get_adapter(
        "kinovi", KEY, base_url="http://testserver/sandbox/kinovi/", client=vendor.client
    )
    assert adapter.base_url == "http://testserver/sandbox/kinovi"
    assert adapter.client is vendor.client


def test_get_adapter_refuses_an_unknown_protocol():
    with pytest.raises(ValueError, match="nope"):
        get_adapter("nope", KEY)


def test_an_adapter_without_a_client_makes_one_with_explicit_timeouts():
    with get_adapter("evolink", KEY) as adapter:
        timeout = adapter.client.timeout
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5, 20, 20, 5)
        assert adapter.client.follow_redirects is False


def test_make_client_sets_the_user_agent_and_takes_overrides():
    client = make_client(follow_redirects=True)
    assert client.headers["User-Agent"] == "SeedanceStudio/0.1"
    assert client.follow_redirects is True
    assert make_client().follow_redirects is False


def test_families_and_modes_have_labels():
    assert [f.label for f in Family] == [
        "Seedance 2.0",
        "Seedance 2.0 Fast",
        "Seedance 2.0 Mini",
        "Seedance 1.5 Pro",
    ]
    assert Mode.IMAGE.label == "image-to-video"


def test_a_request_survives_a_trip_through_json():
    request = VideoRequest(
        family=Family.SEEDANCE_2_FAST,
        prompt="p",
        mode="image",
        image_urls=["https://x/a.png"],
        seed=7,
        metadata={"projectId": "p1", "sceneId": "s2"},
    )
    stored = json.loads(json.dumps(request.to_dict()))
    assert stored["family"] == "seedance-2.0-fast"
    assert stored["image_urls"] == ["https://x/a.png"]
    assert VideoRequest.from_dict(stored) == request


def test_a_request_from_an_older_release_loads_despite_unknown_keys():
    request = VideoRequest.from_dict({"family": "seedance-2.0", "prompt": "p", "retired": 1})
    assert request.duration == 5 and request.image_urls == () and request.metadata == {}


@pytest.mark.parametrize(
    "state, finished",
    [
        ("queued", False),
        ("running", False),
        ("succeeded", True),
        ("failed", True),
        ("cancelled", True),
        ("expired", True),
    ],
)
def test_a_state_knows_whether_it_is_finished(state, finished):
    assert TaskState(state).finished is finished


@pytest.mark.parametrize(
    "kind, elsewhere",
    [
        (ErrorKind.RATE_LIMITED, True),
        (ErrorKind.FAULT, True),
        (ErrorKind.UNKNOWN_OUTCOME, False),
        (ErrorKind.BAD_REQUEST, False),
        (ErrorKind.AUTH, False),
        (ErrorKind.NO_CREDIT, False),
        (ErrorKind.NOT_FOUND, False),
    ],
)
def test_only_a_surely_refused_create_may_be_retried_elsewhere(kind, elsewhere):
    assert VendorError(kind, "x").retryable_elsewhere is elsewhere


def test_a_vendor_error_survives_pickling():
    error = VendorError(
        ErrorKind.RATE_LIMITED, "Kinovi is busy.", vendor_code="X", status_code=429, retry_after=3.0
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.kind, copy.message, copy.vendor_code, copy.status_code, copy.retry_after) == (
        ErrorKind.RATE_LIMITED,
        "Kinovi is busy.",
        "X",
        429,
        3.0,
    )
    assert str(copy) == "Kinovi is busy."


# --- the shared HTTP handling, for every vendor ---------------------------------------

CREATE_ERRORS = [
    # (answer kwargs, expected kind)
    ({"raises": httpx.ConnectError}, ErrorKind.FAULT),
    ({"raises": httpx.ConnectTimeout}, ErrorKind.FAULT),
    ({"raises": httpx.PoolTimeout}, ErrorKind.FAULT),
    ({"raises": httpx.ReadTimeout}, ErrorKind.UNKNOWN_OUTCOME),
    ({"raises": httpx.WriteTimeout}, ErrorKind.UNKNOWN_OUTCOME),
    ({"raises": httpx.RemoteProtocolError}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 400, "json": {"message": "bad"}}, ErrorKind.BAD_REQUEST),
    ({"status": 422, "json": {"message": "bad"}}, ErrorKind.BAD_REQUEST),
    ({"status": 401, "json": {"message": "who?"}}, ErrorKind.AUTH),
    ({"status": 403, "json": {"message": "no"}}, ErrorKind.AUTH),
    ({"status": 402, "json": {"message": "broke"}}, ErrorKind.NO_CREDIT),
    ({"status": 429, "json": {"message": "slow down"}}, ErrorKind.RATE_LIMITED),
    ({"status": 404, "text": "no such endpoint"}, ErrorKind.FAULT),
    ({"status": 500, "text": "<html>oops</html>"}, ErrorKind.FAULT),
    # A gateway in front of the vendor may answer these after the vendor accepted the task.
    ({"status": 502, "text": ""}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 503, "json": {"message": "maintenance"}}, ErrorKind.FAULT),
    ({"status": 504, "text": "gateway timeout"}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 520, "text": "<html>origin error</html>"}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 522, "text": "<html>timed out</html>"}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 524, "text": "<html>a timeout occurred</html>"}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 521, "text": "<html>web server is down</html>"}, ErrorKind.FAULT),
    ({"status": 301, "text": "", "headers": {"Location": "https://elsewhere"}}, ErrorKind.FAULT),
    ({"status": 200, "text": "{not json"}, ErrorKind.UNKNOWN_OUTCOME),
    ({"status": 200, "json": {}}, ErrorKind.UNKNOWN_OUTCOME),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("answer, kind", CREATE_ERRORS)
def test_a_failed_create_is_classified_and_never_shows_the_key(
    protocol, answer, kind, vendor, caplog
):
    caplog.set_level(logging.DEBUG)
    vendor.answer(**answer)
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).create(PLAIN)
    assert caught.value.kind == kind
    assert REGISTRY[protocol].label in caught.value.message
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY not in caplog.text


QUERY_ERRORS = [
    ({"raises": httpx.ConnectError}, ErrorKind.FAULT),
    ({"raises": httpx.ReadTimeout}, ErrorKind.FAULT),
    ({"raises": httpx.WriteTimeout}, ErrorKind.FAULT),
    ({"raises": httpx.RemoteProtocolError}, ErrorKind.FAULT),
    ({"status": 404, "json": {"message": "no such task"}}, ErrorKind.NOT_FOUND),
    ({"status": 401, "json": {"message": "who?"}}, ErrorKind.AUTH),
    ({"status": 429, "json": {}, "headers": {"Retry-After": "30"}}, ErrorKind.RATE_LIMITED),
    ({"status": 500, "json": {}}, ErrorKind.FAULT),
    ({"status": 504, "text": ""}, ErrorKind.FAULT),
    ({"status": 200, "text": "<html>"}, ErrorKind.FAULT),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("answer, kind", QUERY_ERRORS)
def test_a_failed_query_is_classified_and_never_shows_the_key(
    protocol, answer, kind, vendor, caplog
):
    caplog.set_level(logging.DEBUG)
    vendor.answer(**answer)
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).query("task_1")
    assert caught.value.kind == kind
    assert KEY not in str(caught.value) and KEY not in caplog.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unknown_status_is_a_fault_naming_the_status(protocol, vendor):
    task = {
        "taskId": "t",
        "requestId": "t",
        "task_id": "t",
        "id": "t",
        "status": "teleporting",
        "state": "teleporting",
    }
    vendor.answer(
        json={"code": 200, "data": task} if protocol in ("seedanceapi_org", "aigptimage") else task
    )
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).query("t")
    assert caught.value.kind == ErrorKind.FAULT
    assert "teleporting" in caught.value.message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_vendor_echoing_the_key_does_not_leak_it(protocol, vendor, caplog):
    caplog.set_level(logging.DEBUG)
    vendor.answer(
        401, {"message": f"Invalid key {KEY}", "error": {"code": KEY, "message": f"key {KEY}"}}
    )
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).create(PLAIN)
    assert caught.value.kind == ErrorKind.AUTH
    assert KEY not in str(caught.value) and KEY not in (caught.value.vendor_code or "")
    assert KEY not in caplog.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_it_sends_the_key_only_in_the_authorization_header(protocol, vendor):
    vendor.answer(json=CREATED[protocol])
    adapter_for(protocol, vendor).create(PLAIN)
    sent = vendor.last
    # fal alone takes "Key <key>"; everyone else a bearer key.
    scheme = "Key" if protocol == "fal" else "Bearer"
    assert sent.headers["Authorization"] == f"{scheme} {KEY}"
    assert sent.headers["User-Agent"] == "SeedanceStudio/0.1"
    assert KEY not in str(sent.url) and KEY.encode() not in sent.content


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_it_refuses_a_request_that_does_not_fit_without_calling_the_vendor(protocol, vendor):
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).create(
            VideoRequest(family="seedance-2.0", prompt="x", duration=99)
        )
    assert caught.value.kind == ErrorKind.BAD_REQUEST
    assert "99" in caught.value.message
    assert vendor.requests == []


@pytest.mark.parametrize(
    "protocol, family, problem",
    [
        (
            "kinovi",
            "seedance-2.0-mini",
            "Kinovi does not offer Seedance 2.0 Mini; it offers Seedance 2.0 or Seedance 2.0 Fast",
        ),
        (
            "seedance2_ink",
            "seedance-2.0-mini",
            "Seedance2.ink does not offer Seedance 2.0 Mini; it offers Seedance 2.0, Seedance 2.0 Fast or Seedance 1.5 Pro",
        ),
        (
            "seedanceapi_org",
            "seedance-1.5-pro",
            "SeedanceAPI.org does not offer Seedance 1.5 Pro; it offers Seedance 2.0, Seedance 2.0 Fast or Seedance 2.0 Mini",
        ),
        (
            "evolink",
            "seedance-1.5-pro",
            "Evolink does not offer Seedance 1.5 Pro; it offers Seedance 2.0 or Seedance 2.0 Fast",
        ),
        (
            "aigptimage",
            "seedance-2.0-fast",
            "AIGPTImage does not offer Seedance 2.0 Fast; it offers Seedance 2.0",
        ),
    ],
)
def test_it_says_which_families_a_vendor_offers(protocol, family, problem):
    assert REGISTRY[protocol](KEY).check(VideoRequest(family=family, prompt="x")) == [problem]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_it_names_an_unknown_family(protocol):
    assert REGISTRY[protocol](KEY).check(VideoRequest(family="sora", prompt="x")) == [
        f"{REGISTRY[protocol].label} does not know the model family 'sora'"
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_vendor_takes_an_empty_prompt_nor_a_seed_it_does_not_document(protocol):
    adapter = REGISTRY[protocol](KEY)
    problems = adapter.check(VideoRequest(family="seedance-2.0", prompt="  ", seed=42))
    assert f"{adapter.label} needs a prompt" in problems
    # Only ModelArk, fal and Replicate document a seed.
    refused = f"{adapter.label} does not accept a seed" in problems
    assert refused == (protocol not in ("byteplus_ark", "fal", "replicate"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unknown_mode_is_named(protocol):
    adapter = REGISTRY[protocol](KEY)
    problems = adapter.check(VideoRequest(family="seedance-2.0", prompt="x", mode="telepathy"))
    assert len(problems) == 1 and "Seedance 2.0 only as" in problems[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_text_request_takes_no_media(protocol):
    adapter = REGISTRY[protocol](KEY)
    problems = adapter.check(
        VideoRequest(family="seedance-2.0", prompt="x", image_urls=["https://x/a.png"])
    )
    assert problems == [f"{adapter.label} takes no images, videos or audio for text-to-video"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_test_connection_says_the_key_works_when_the_probe_task_is_unknown(protocol, vendor):
    # Replicate's check also fetches its webhook secret (tested with Replicate).
    secret = {"key": "whsec_c2VjcmV0"} if protocol == "replicate" else None
    vendor.answer(404, {"message": "not found"})
    if secret:
        vendor.answer(json=secret)
    assert adapter_for(protocol, vendor).test_connection().startswith("The key works.")
    vendor.answer(400, {"message": "bad task id"})
    if secret:
        vendor.answer(json=secret)
    assert adapter_for(protocol, vendor).test_connection().startswith("The key works.")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_test_connection_raises_auth_when_the_key_is_refused(protocol, vendor, caplog):
    vendor.answer(401, {"message": "invalid api key"})
    with pytest.raises(VendorError) as caught:
        adapter_for(protocol, vendor).test_connection()
    assert caught.value.kind == ErrorKind.AUTH
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_test_connection_reports_a_working_key_without_credit(vendor):
    vendor.answer(402, {"message": "no credit"})
    assert "out of credit" in adapter_for("kinovi", vendor).test_connection()


def test_test_connection_raises_when_the_vendor_is_down(vendor):
    vendor.answer(503, {})
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).test_connection()
    assert caught.value.kind == ErrorKind.FAULT


def test_retry_after_is_read_from_the_header_in_seconds(vendor):
    vendor.answer(429, {"message": "busy"}, headers={"Retry-After": "12"})
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).create(PLAIN)
    assert caught.value.retry_after == 12.0
    assert "try again in 12 seconds" in caught.value.message


def test_retry_after_is_read_from_an_http_date(vendor):
    vendor.answer(429, {}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).create(PLAIN)
    assert caught.value.retry_after == 0.0  # already past


def test_retry_after_is_read_from_the_body_when_no_header_says(vendor):
    vendor.answer(429, {"error": {"code": "rate_limited", "message": "slow", "retry_after": 7}})
    with pytest.raises(VendorError) as caught:
        adapter_for("evolink", vendor).create(PLAIN)
    assert caught.value.retry_after == 7.0
    assert caught.value.vendor_code == "rate_limited"


def test_a_rate_limit_without_a_hint_has_no_retry_after(vendor):
    vendor.answer(429, {"message": "busy"})
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).create(PLAIN)
    assert caught.value.retry_after is None
    assert caught.value.status_code == 429


def test_a_broken_base_url_is_a_fault_not_a_crash(vendor):
    adapter = get_adapter("kinovi", KEY, base_url="http://[::1", client=vendor.client)
    with pytest.raises(VendorError) as caught:
        adapter.query("task_1")
    assert caught.value.kind == ErrorKind.FAULT
    assert vendor.requests == []


def test_an_unknown_outcome_tells_the_caller_not_to_resend(vendor):
    vendor.answer(raises=httpx.ReadTimeout)
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).create(PLAIN)
    assert caught.value.message == (
        "Kinovi did not confirm the new task: no answer in time. It may have been created "
        "and charged, so don't send it again before checking the task list at Kinovi."
    )


def test_a_refusal_inside_http_200_without_words_is_not_explained_as_ok(vendor):
    vendor.answer(200, {"success": False})
    with pytest.raises(VendorError) as caught:
        adapter_for("seedance2_ink", vendor).create(PLAIN)
    assert caught.value.message == "Seedance2.ink had a problem: no explanation given."


def test_a_code_that_repeats_the_status_is_said_once(vendor):
    vendor.answer(404, {"error": {"code": 404, "message": "Task not found"}})
    with pytest.raises(VendorError) as caught:
        adapter_for("evolink", vendor).query("task-unified-1")
    assert caught.value.message == "Evolink has no such task: Task not found (HTTP 404)."
    assert caught.value.vendor_code == "404"


def test_an_error_message_quotes_the_vendor_and_the_status(vendor):
    vendor.answer(400, {"message": "Invalid duration value"})
    with pytest.raises(VendorError) as caught:
        adapter_for("kinovi", vendor).create(PLAIN)
    assert caught.value.message == "Kinovi refused the request: Invalid duration value (HTTP 400)."


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_callback_that_is_not_json_is_a_bad_request(protocol):
    for garbage in (b"", b"<xml/>", b"[1, 2]", b"{}", b"\xff\xfe"):
        with pytest.raises(VendorError) as caught:
            REGISTRY[protocol](KEY).parse_callback(garbage)
        assert caught.value.kind == ErrorKind.BAD_REQUEST


@pytest.mark.parametrize("protocol", ["kinovi", "seedance2_ink"])
def test_create_leaves_out_a_callback_url_the_vendor_cannot_use(protocol, vendor):
    vendor.answer(json=CREATED[protocol])
    adapter_for(protocol, vendor).create(PLAIN, callback_url="ftp://example.com/hook")
    assert "ftp://example.com/hook" not in vendor.last.content.decode()


@pytest.mark.parametrize(
    "url, public",
    [
        ("https://studio.example.com/hooks/abc", True),
        ("http://studio.example.com/hooks/abc", True),
        ("http://localhost:8000/hooks/abc", False),
        ("http://app.localhost/hooks", False),
        ("http://127.0.0.1:8000/hooks", False),
        ("http://[::1]/hooks", False),
        ("http://10.1.2.3/hooks", False),
        ("http://192.168.1.5/hooks", False),
        ("http://web:8000/hooks", False),
        ("http://8.8.8.8/hooks", True),
        ("mailto:me@example.com", False),
        ("not a url", False),
    ],
)
def test_a_public_url_is_one_the_internet_can_reach(url, public):
    assert is_public_url(url) is public


def test_choices_read_as_english():
    assert join_choices(["a"]) == "a"
    assert join_choices(["a", "b", "c"]) == "a, b or c"
    assert describe_seconds((5, 10, 15)) == "5, 10 or 15 seconds"
    assert describe_seconds((5, 10)) == "5 or 10 seconds"
    assert describe_seconds(tuple(range(4, 16))) == "4 to 15 seconds"


# --- price rules ------------------------------------------------------------------


def test_every_vendor_has_seed_rules_and_a_credit_value():
    assert set(DEFAULT_PRICE_RULES) == set(REGISTRY) == set(DEFAULT_CREDIT_VALUE)
    assert all(isinstance(value, Decimal) for value in DEFAULT_CREDIT_VALUE.values())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_seed_rules_are_valid_json_an_operator_can_edit(protocol):
    rules = DEFAULT_PRICE_RULES[protocol]
    assert check_price_rules(json.loads(json.dumps(rules))) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_request_a_vendor_accepts_can_be_priced(protocol):
    adapter = REGISTRY[protocol](KEY)
    rules = default_price_rules(protocol)
    for family, offer in adapter.offers.items():
        for resolution in offer.resolutions:
            for duration in offer.durations:
                request = VideoRequest(
                    family=family, prompt="x", duration=duration, resolution=resolution
                )
                assert quote_credits(request, rules) > 0


def test_default_price_rules_hands_out_a_copy():
    rules = default_price_rules("kinovi")
    rules["seedance-2.0"]["per_second"]["720p"] = "999"
    assert DEFAULT_PRICE_RULES["kinovi"]["seedance-2.0"]["per_second"]["720p"] == "40"


def test_a_quote_without_a_matching_rule_says_which_rule_is_missing():
    with pytest.raises(PriceRuleError, match="no price is set for seedance-2.0"):
        quote_credits(PLAIN, {"seedance-2.0-fast": {"per_second": {"720p": "28"}}})


def test_a_quote_accepts_plain_numbers_in_the_rules():
    assert quote_credits(PLAIN, {"seedance-2.0": {"per_second": {"720p": 40}}}) == Decimal("200")


@pytest.mark.parametrize(
    "rules, problem",
    [
        ([], "price rules must be an object keyed by model family"),
        ({"seedance-2.0": 5}, "seedance-2.0: must be an object"),
        ({"seedance-2.0": {}}, "seedance-2.0: needs exactly one of per_second or per_duration"),
        (
            {"seedance-2.0": {"per_second": {"720p": "forty"}}},
            "seedance-2.0: per_second 720p is not a number",
        ),
        (
            {"seedance-2.0": {"per_second": {"720p": "-1"}}},
            "seedance-2.0: per_second 720p is not a number",
        ),
        (
            {"seedance-2.0": {"per_second": {"720p": "1"}, "rounding": "up"}},
            "seedance-2.0: rounding must be one of none, ceil",
        ),
        (
            {"seedance-2.0": {"per_second": {"720p": "1"}, "upscale_4k_per_second": True}},
            "seedance-2.0: upscale_4k_per_second is not a number",
        ),
    ],
)
def test_it_explains_what_is_wrong_with_edited_rules(rules, problem):
    assert problem in check_price_rules(rules)
