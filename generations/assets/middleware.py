"""Upload requests past ASSET_MAX_UPLOAD_BYTES are refused before anything reads them.

A middleware, ahead of CsrfViewMiddleware: that one reads request.POST (and so the whole
multipart body, files and all, to disk) before any view could look at the size."""

from django.conf import settings
from django.http import HttpResponse

from generations.assets.limits import size_text


class UploadCapMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.ASSET_MAX_UPLOAD_BYTES
        if length > limit:
            # With htmx the page is not swapped, so the form stays as typed (assets.js
            # shows this message beside the slot).
            return HttpResponse(
                f"That upload is over {size_text(limit)} in all: send fewer or smaller files.",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
