"""The sandbox vendors as the fault tests drive them: how to create a task, query
it, and read an answer's id, status, charge, output URL and error in each vendor's words."""

import json
from dataclasses import dataclass

import pytest


@dataclass
class Vendor:
    name: str
    create: str
    body: object  # (prompt, callback_url) -> create body
    task_id: object  # create answer -> task id
    query: object  # task id -> (path, params)
    not_found: tuple  # (status, body)
    callback_url: str | None
    answer_id: object  # query answer -> task id
    status: object  # query answer -> status word
    statuses: dict  # queued / running / succeeded / failed -> the vendor's word
    created_charge: object  # create answer -> charge, None where it reports none
    charge: object  # query answer -> charge, None where it reports none
    output_url: object  # query answer -> output URL, or a falsy value for none
    error: object  # query answer of a failed task -> (code or None, message)
    callback_status: object  # callback body -> status word
    # fal answers a status read with the status alone: its output, error and charge are
    # at a second address, so the shared fault tests (one read each) leave it out;
    # tests/sandbox/test_sandbox_fal.py drives its faults.
    one_read: bool = True


def _aigptimage_url(answer):
    result = answer["data"]["resultJson"]
    urls = json.loads(result)["resultUrls"] if result else []
    return urls[0] if urls else None


VENDORS = {
    "kinovi": Vendor(
        name="kinovi",
        create="kinovi/api/v1/jobs/createTask",
        body=lambda prompt, url: (
            {"model": "seedance-20", "inputs": {"prompt": prompt}}
            | ({"callBackUrl": url} if url else {})
        ),
        task_id=lambda answer: answer["taskId"],
        query=lambda task_id: ("kinovi/api/v1/jobs/recordInfo", {"taskId": task_id}),
        not_found=(404, {"message": "Task not found"}),
        callback_url="http://127.0.0.1:8000/hooks/k",
        answer_id=lambda answer: answer["taskId"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "waiting",
            "running": "generating",
            "succeeded": "success",
            "failed": "fail",
        },
        created_charge=lambda answer: None,
        charge=lambda answer: answer["creditsUsed"],
        output_url=lambda answer: answer["output"][0]["url"] if answer["output"] else None,
        error=lambda answer: (answer["error"]["code"], answer["error"]["message"]),
        callback_status=lambda body: body["data"]["status"],
    ),
    "seedance2_ink": Vendor(
        name="seedance2_ink",
        create="seedance2_ink/api/open/v1/video/generations",
        body=lambda prompt, url: (
            {"model": "seedance-2.0", "prompt": prompt} | ({"webhookUrl": url} if url else {})
        ),
        task_id=lambda answer: answer["requestId"],
        query=lambda task_id: (f"seedance2_ink/api/open/v1/video/generations/{task_id}", {}),
        not_found=(
            404,
            {"success": False, "error": {"code": "not_found", "message": "Task not found"}},
        ),
        callback_url="http://127.0.0.1:8000/hooks/i",
        answer_id=lambda answer: answer["requestId"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "queued",
            "running": "processing",
            "succeeded": "succeeded",
            "failed": "failed",
        },
        created_charge=lambda answer: answer["creditsCharged"],
        charge=lambda answer: None,
        output_url=lambda answer: (answer["output"] or {}).get("url"),
        error=lambda answer: (answer["error"]["code"], answer["error"]["message"]),
        callback_status=lambda body: body["status"],
    ),
    "seedanceapi_org": Vendor(
        name="seedanceapi_org",
        create="seedanceapi_org/v2/generate",
        body=lambda prompt, url: {"prompt": prompt} | ({"callback_url": url} if url else {}),
        task_id=lambda answer: answer["data"]["task_id"],
        query=lambda task_id: ("seedanceapi_org/v2/status", {"task_id": task_id}),
        not_found=(404, {"code": "TASK_NOT_FOUND", "message": "Task not found", "data": None}),
        callback_url="https://hooks.example.com/o",
        answer_id=lambda answer: answer["data"]["task_id"],
        status=lambda answer: answer["data"]["status"],
        statuses={
            "queued": "IN_PROGRESS",
            "running": "IN_PROGRESS",
            "succeeded": "SUCCESS",
            "failed": "FAILED",
        },
        created_charge=lambda answer: answer["data"]["consumed_credits"],
        charge=lambda answer: answer["data"]["consumed_credits"],
        output_url=lambda answer: (answer["data"]["response"] or [None])[0],
        error=lambda answer: (None, answer["data"]["error_message"]),
        callback_status=lambda body: body["data"]["status"],
    ),
    "evolink": Vendor(
        name="evolink",
        create="evolink/v1/videos/generations",
        body=lambda prompt, url: (
            {"model": "seedance-2.0-text-to-video", "prompt": prompt}
            | ({"callback_url": url} if url else {})
        ),
        task_id=lambda answer: answer["id"],
        query=lambda task_id: (f"evolink/v1/tasks/{task_id}", {}),
        not_found=(
            404,
            {
                "error": {
                    "code": 404,
                    "message": "Task not found",
                    "type": "not_found_error",
                    "param": None,
                }
            },
        ),
        callback_url="https://hooks.example.com/e",
        answer_id=lambda answer: answer["id"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "pending",
            "running": "processing",
            "succeeded": "completed",
            "failed": "failed",
        },
        created_charge=lambda answer: answer["usage"]["credits_reserved"],
        charge=lambda answer: answer["usage"]["credits_reserved"],
        output_url=lambda answer: answer.get("results", [None])[0],
        error=lambda answer: (answer["error"]["code"], answer["error"]["message"]),
        callback_status=lambda body: body["status"],
    ),
    "aigptimage": Vendor(
        name="aigptimage",
        create="aigptimage/api/v1/jobs/createTask",
        body=lambda prompt, url: {
            "model": "seedance-2.0-text-to-video",
            "input": {"prompt": prompt},
        },
        task_id=lambda answer: answer["data"]["taskId"],
        query=lambda task_id: ("aigptimage/api/v1/jobs/recordInfo", {"taskId": task_id}),
        not_found=(404, {"code": 404, "msg": "Task not found", "data": None}),
        callback_url=None,
        answer_id=lambda answer: answer["data"]["taskId"],
        status=lambda answer: answer["data"]["state"],
        statuses={
            "queued": "waiting",
            "running": "waiting",
            "succeeded": "success",
            "failed": "fail",
        },
        created_charge=lambda answer: None,
        charge=lambda answer: None,
        output_url=_aigptimage_url,
        error=lambda answer: (answer["data"]["failCode"], answer["data"]["failMsg"]),
        callback_status=None,
    ),
    "byteplus_ark": Vendor(
        name="byteplus_ark",
        create="byteplus_ark/contents/generations/tasks",
        body=lambda prompt, url: (
            {
                "model": "dreamina-seedance-2-0-260128",
                "content": [{"type": "text", "text": prompt}],
            }
            | ({"callback_url": url} if url else {})
        ),
        task_id=lambda answer: answer["id"],
        query=lambda task_id: (f"byteplus_ark/contents/generations/tasks/{task_id}", {}),
        not_found=(
            404,
            {
                "error": {
                    "code": "ResourceNotFound",
                    "message": "Task not found",
                    "param": "",
                    "type": "BadRequest",
                }
            },
        ),
        callback_url="https://hooks.example.com/a",
        answer_id=lambda answer: answer["id"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "queued",
            "running": "running",
            "succeeded": "succeeded",
            "failed": "failed",
        },
        created_charge=lambda answer: None,
        charge=lambda answer: (answer["usage"] or {}).get("completion_tokens"),
        output_url=lambda answer: (answer["content"] or {}).get("video_url"),
        error=lambda answer: (answer["error"]["code"], answer["error"]["message"]),
        callback_status=lambda body: body["status"],
    ),
    "replicate": Vendor(
        name="replicate",
        create="replicate/v1/models/bytedance/seedance-2.0/predictions",
        body=lambda prompt, url: (
            {"input": {"prompt": prompt}}
            | ({"webhook": url, "webhook_events_filter": ["completed"]} if url else {})
        ),
        task_id=lambda answer: answer["id"],
        query=lambda task_id: (f"replicate/v1/predictions/{task_id}", {}),
        not_found=(404, {"title": "Not found", "detail": "Task not found", "status": 404}),
        callback_url="https://hooks.example.com/r",
        answer_id=lambda answer: answer["id"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "starting",
            "running": "processing",
            "succeeded": "succeeded",
            "failed": "failed",
        },
        created_charge=lambda answer: None,
        charge=lambda answer: None,
        output_url=lambda answer: answer["output"],
        error=lambda answer: (None, answer["error"]),
        callback_status=lambda body: body["status"],
    ),
    "fal": Vendor(
        name="fal",
        create="fal/bytedance/seedance-2.0/text-to-video",
        body=lambda prompt, url: {"prompt": prompt},
        task_id=lambda answer: answer["request_id"],
        query=lambda task_id: (f"fal/bytedance/seedance-2.0/requests/{task_id}/status", {}),
        not_found=(404, {"status": "NOT_FOUND"}),
        callback_url=None,
        answer_id=lambda answer: answer["request_id"],
        status=lambda answer: answer["status"],
        statuses={
            "queued": "IN_QUEUE",
            "running": "IN_PROGRESS",
            "succeeded": "COMPLETED",
            "failed": "COMPLETED",
        },
        created_charge=lambda answer: None,
        charge=lambda answer: None,
        output_url=lambda answer: None,
        error=lambda answer: (None, None),
        callback_status=lambda body: body["status"],
        one_read=False,
    ),
}
SHARED = {name: vendor for name, vendor in VENDORS.items() if vendor.one_read}
EVERY_VENDOR = pytest.mark.parametrize("vendor", SHARED.values(), ids=SHARED.keys())
CALLING_VENDORS = pytest.mark.parametrize(
    "vendor",
    [v for v in SHARED.values() if v.callback_url],
    ids=[name for name, v in SHARED.items() if v.callback_url],
)


def create(api, vendor, prompt, *, callback=False, key=None):
    payload = vendor.body(prompt, vendor.callback_url if callback else None)
    response = api.post(vendor.create, payload, **({"key": key} if key else {}))
    assert response.status_code in (200, 201), response.content  # Replicate's 201
    return vendor.task_id(response.json())


def query(api, vendor, task_id):
    path, params = vendor.query(task_id)
    return api.get(path, **params)
