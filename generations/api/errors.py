"""Every answer of the API is JSON, errors too: a code, a sentence a person understands,
and the field it is about (null when it is about the whole request)."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

log = logging.getLogger(__name__)

# The form's field names as the API spells them.
API_FIELD = {"family": "model", "account": "vendor", "__all__": None}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, errors=()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.errors = list(errors)


def error_body(code: str, message: str, field: str | None = None, errors=()) -> dict:
    errors = list(errors) or [{"code": code, "message": message, "field": field}]
    return {"code": code, "message": message, "field": field, "errors": errors}


def respond(status: int, code: str, message: str, field=None, errors=()) -> JsonResponse:
    return JsonResponse(error_body(code, message, field, errors), status=status)


def form_error(form) -> ApiError:
    """A GenerateForm's errors as the API's one error, first field first."""
    errors = []
    for name, messages in form.errors.items():
        field = API_FIELD.get(name, name)
        errors.extend({"code": "invalid", "message": m, "field": field} for m in messages)
    first = errors[0]
    return ApiError(422, "invalid", first["message"], first["field"], errors)


def _pydantic_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors:
        where = [str(p) for p in error.get("loc", ()) if p not in ("body", "payload", "query")]
        field = where[-1] if where else None
        message = error.get("msg", "This value is not valid.")
        text = f"{field}: {message}." if field else f"{message}."
        errors.append({"code": "invalid", "message": text, "field": field})
    return errors or [{"code": "invalid", "message": "The request is not valid.", "field": None}]


def install(api) -> None:
    @api.exception_handler(ApiError)
    def api_error(request, exc):
        return respond(exc.status, exc.code, exc.message, exc.field, exc.errors)

    @api.exception_handler(ValidationError)
    def invalid(request, exc):
        errors = _pydantic_errors(exc)
        return respond(422, "invalid", errors[0]["message"], errors[0]["field"], errors)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        response = respond(
            401,
            "unauthenticated",
            "Send a live API token as 'Authorization: Bearer <token>'.",
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return respond(404, "not_found", "There is no such object in this team.")

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return respond(403, "forbidden", str(exc) or "This token may not do that.")

    @api.exception_handler(RequestDataTooBig)
    def too_large(request, exc):
        # Raised when the view first reads request.body, so the catch-all below saw it.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_000_000
        return respond(413, "too_large", f"The request body is over {limit:g} MB; send less.")

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        return respond(exc.status_code, "bad_request", str(exc))

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        # A bug: logged with its traceback, answered in JSON all the same.
        log.exception("API error on %s %s", request.method, request.path)
        return respond(500, "internal", "Something went wrong on our side; try again.")
