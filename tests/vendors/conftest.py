import json

import httpx
import pytest


class FakeVendor:
    """Answers each request with the next queued answer, and keeps what was sent."""

    def __init__(self):
        self.answers = []
        self.requests = []
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def answer(self, status=200, json=None, *, text=None, headers=None, raises=None):
        self.answers.append((status, json, text, headers, raises))
        return self

    def handle(self, request):
        self.requests.append(request)
        status, body, text, headers, raises = self.answers.pop(0)
        if raises is not None:
            raise raises("simulated", request=request)
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def sent(self) -> dict:
        return json.loads(self.last.content)


@pytest.fixture
def vendor():
    return FakeVendor()
