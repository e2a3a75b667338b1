"""What every vendor adapter offers the rest of the app.

Shaped like healthchecks' transports: this base class (on `http.VendorHttp`, which sends
requests and turns every failure into one VendorError carrying its kind) checks a request
against what the vendor sells and bounds what comes back; each vendor module only states
what the vendor accepts (its Offers), builds its payloads, reads its bodies and names its
odd error codes. The shared types are in `types`, the bounds in `bounds`, tolerant body
reading in `parsing`.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any, ClassVar

from .bounds import (
    MAX_ERROR_CODE_CHARS,
    MAX_ERROR_MESSAGE_CHARS,
    clean_charge,
    clean_output_url,
    clean_task_id,
    clean_text,
    is_http_url,
)
from .http import VendorHttp
from .media_limits import NO_MEDIA, VendorMedia
from .parsing import (
    describe_seconds,
    join_choices,
    to_decimal,
    to_progress,
)
from .types import (
    FRAME_IMAGES,
    CallbackHint,
    Created,
    ErrorKind,
    Family,
    Mode,
    Offer,
    TaskSnapshot,
    TaskState,
    VendorError,
    VideoRequest,
    mode_label,
)

logger = logging.getLogger("generations.vendors")


def singular(what: str) -> str:
    """ "images" -> "image", "audio clips" -> "audio clip"."""
    return what.removesuffix("s")


class VendorAdapter(VendorHttp):
    supports_cancel: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    # Callbacks signed with a secret the vendor hands out (see verify_callback).
    signs_callbacks: ClassVar[bool] = False
    offers: ClassVar[dict[Family, Offer]] = {}
    families: ClassVar[tuple[Family, ...]] = ()

    max_prompt_chars: ClassVar[int | None] = None
    has_audio_switch: ClassVar[bool] = False
    has_upscale: ClassVar[bool] = False
    # What reference-to-video takes, as a member reads it after the account's name.
    reference_rule: ClassVar[str] = ""
    # The input media its document takes, for checking uploads: none unless it says so.
    media: ClassVar[VendorMedia] = NO_MEDIA
    has_seed: ClassVar[bool] = False
    # What one vendor credit of this vendor is, as the quote names it.
    credit_unit: ClassVar[str] = "credits"
    # Whether an account may name its own model (or endpoint) id per family.
    takes_model_ids: ClassVar[bool] = False
    create_path: ClassVar[str]
    # Vendor status string (lower-cased) -> our state; anything else is a FAULT.
    states: ClassVar[dict[str, TaskState]] = {}
    # A task id no vendor will have, for test_connection.
    probe_task_id: ClassVar[str] = "seedance-studio-key-check"
    # Seed prices a new account starts from (operators edit them): US dollars per vendor
    # credit, and the price rules (see pricing.py) as the vendor publishes them.
    default_credit_value: ClassVar[Decimal]
    default_price_rules: ClassVar[dict]

    def __init__(self, api_key, base_url=None, client=None, *, model_ids=None):
        super().__init__(api_key, base_url=base_url, client=client)
        # The account's own model (or endpoint) id per family, where the vendor has them.
        self.model_ids = dict(model_ids or {})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.families = tuple(cls.offers)

    # --- what a vendor module provides -------------------------------------------

    def build_create_payload(self, request: VideoRequest, callback_url: str | None) -> dict:
        raise NotImplementedError

    def create_endpoint(self, request: VideoRequest, callback_url: str | None):
        """The path (and query parameters) a create is POSTed to."""
        return self.create_path, None

    def query_endpoint(self, task_id: str) -> tuple[str, dict | None]:
        """The path (and query parameters) that read one task."""
        raise NotImplementedError

    def read_created(self, body: dict) -> Created:
        raise NotImplementedError

    def read_task(self, body: dict, task_id: str) -> TaskSnapshot:
        raise NotImplementedError

    def callback_task(self, body: dict) -> tuple[Any, Any]:
        """(task id, vendor status) from a callback body; either may be None."""
        raise NotImplementedError

    def accepts_callback_url(self, url: str) -> bool:
        return self.supports_callback and is_http_url(url)

    # --- checking a request ------------------------------------------------------

    def check(self, request: VideoRequest) -> list[str]:
        try:
            family = Family(request.family)
        except ValueError:
            return [f"{self.label} does not know the model family {request.family!r}"]
        offer = self.offers.get(family)
        if offer is None:
            offered = join_choices([f.label for f in self.families])
            return [f"{self.label} does not offer {family.label}; it offers {offered}"]

        problems = self.check_prompt(request.prompt)
        for_family = f"for {family.label}"
        if request.mode not in offer.modes:
            modes = join_choices([mode_label(m) for m in offer.modes])
            problems.append(f"{self.label} offers {family.label} only as {modes}")
        duration = request.duration
        if isinstance(duration, bool) or duration not in offer.durations:
            problems.append(
                f"{self.label} accepts {describe_seconds(offer.durations)} {for_family}, not {duration!r}"
            )
        if self.sends_aspect_ratio(request) and request.aspect_ratio not in offer.aspect_ratios:
            problems.append(
                f"{self.label} accepts aspect ratios {join_choices(offer.aspect_ratios)} {for_family}, "
                f"not {request.aspect_ratio}"
            )
        if request.resolution not in offer.resolutions:
            problems.append(
                f"{self.label} accepts resolutions {join_choices(offer.resolutions)} {for_family}, "
                f"not {request.resolution}"
            )
        if request.audio and not self.has_audio_switch:
            problems.append(f"{self.label} has no setting for generated audio; turn audio off")
        if request.upscale_4k and not self.has_upscale:
            problems.append(f"{self.label} cannot upscale to 4K")
        if request.seed is not None and not self.has_seed:
            # Most vendors document no seed field, and we never send undocumented fields.
            problems.append(f"{self.label} does not accept a seed")
        if request.mode in offer.modes:
            problems += self.check_media(request, family)
        return problems

    @classmethod
    def prompt_rule(cls) -> str:
        """The prompt limit as a member reads it after the account's name; "" for none."""
        return f"takes up to {cls.max_prompt_chars:,} characters" if cls.max_prompt_chars else ""

    def check_prompt(self, prompt: str) -> list[str]:
        if not prompt or not prompt.strip():
            return [f"{self.label} needs a prompt"]
        if self.max_prompt_chars and len(prompt) > self.max_prompt_chars:
            return [
                f"{self.label} accepts prompts of at most {self.max_prompt_chars} characters; "
                f"this one has {len(prompt)}"
            ]
        return []

    def sends_aspect_ratio(self, request: VideoRequest) -> bool:
        return True

    def check_media(self, request: VideoRequest, family: Family) -> list[str]:
        """Media rules per mode: none for text, exactly the frames for the frame modes;
        a vendor that sells reference-to-video states its counts in check_references."""
        mode = Mode(request.mode)
        if mode == Mode.TEXT:
            if request.image_urls or request.video_urls or request.audio_urls:
                return [f"{self.label} takes no images, videos or audio for text-to-video"]
            return []
        if mode in FRAME_IMAGES:
            frames = FRAME_IMAGES[mode]
            return [
                *self.count_problem("images", request.image_urls, frames, frames, mode),
                *self.count_problem("videos", request.video_urls, 0, 0, mode),
                *self.count_problem("audio clips", request.audio_urls, 0, 0, mode),
            ]
        return self.check_references(request, family)

    def check_references(self, request: VideoRequest, family: Family) -> list[str]:
        return [f"{self.label} does not offer reference-to-video"]

    def count_problem(self, what: str, urls, low: int, high: int, mode: str) -> list[str]:
        count = len(urls)
        if not low <= count <= high:
            if high == 0:
                allowed = f"no {what}"
            elif high > low:
                allowed = f"{low} to {high} {what}"
            else:
                allowed = f"{low} {what if low != 1 else singular(what)}"
            return [f"{self.label} accepts {allowed} for {mode_label(mode)}, not {count}"]
        return self.url_problem(what, urls)

    def url_problem(self, what: str, urls) -> list[str]:
        bad = [url for url in urls if not is_http_url(url)]
        return [f"{self.label} needs http(s) URLs for {what}, not {bad[0]!r}"] if bad else []

    # --- the calls ---------------------------------------------------------------

    def create(self, request: VideoRequest, callback_url: str | None = None) -> Created:
        problems = self.check(request)
        if problems:
            raise VendorError(ErrorKind.BAD_REQUEST, "; ".join(problems) + ".")
        if callback_url and not self.accepts_callback_url(callback_url):
            # The vendor would refuse the whole task over it; polling still finds the result.
            logger.info("%s: not sending a callback URL it cannot use", self.protocol)
            callback_url = None
        payload = self.build_create_payload(request, callback_url)
        path, params = self.create_endpoint(request, callback_url)
        body = self.send("POST", path, json_body=payload, params=params, creating=True)
        try:
            created = self.read_created(body)
        except VendorError:
            raise
        except Exception as exc:  # a body of unexpected types: it may still have been accepted
            raise self.fail(
                ErrorKind.UNKNOWN_OUTCOME, f"the answer could not be read ({type(exc).__name__})"
            ) from None
        charge = clean_charge(created.charge_credits)
        if charge is None and created.charge_credits is not None:
            created.ignored.append(self._ignored_charge(created.charge_credits))
        created.charge_credits = charge
        return created

    def query(self, task_id: str) -> TaskSnapshot:
        path, params = self.query_endpoint(task_id)
        body = self.send("GET", path, params=params)
        try:
            snapshot = self.read_task(body, task_id)
        except VendorError:
            raise
        except Exception as exc:  # a body of unexpected types is a vendor fault, not a crash
            raise self.fail(
                ErrorKind.FAULT, f"the task could not be read ({type(exc).__name__})"
            ) from None
        return self.bounded(snapshot)

    def bounded(self, snapshot: TaskSnapshot) -> TaskSnapshot:
        """Keep only what we can store and believe; say what was dropped.

        Vendors answering within their documents' words but not their examples send
        kilobyte URLs, 300-character codes, negative or absurd charges, progress as text.
        """
        urls = []
        for url in snapshot.output_urls or []:
            if clean_output_url(url) is not None:
                urls.append(url)
            else:
                shown = str(url)[:80] + ("…" if len(str(url)) > 80 else "")
                snapshot.ignored.append(
                    f"{self.label} gave an output address we cannot use "
                    f"({len(str(url))} characters: {shown!r}); it was ignored."
                )
        snapshot.output_urls = urls
        raw_charge = snapshot.charge_credits
        snapshot.charge_credits = clean_charge(raw_charge)
        if raw_charge is not None and snapshot.charge_credits is None:
            snapshot.ignored.append(self._ignored_charge(raw_charge))
        progress = snapshot.progress
        snapshot.progress = (
            to_progress(progress) if isinstance(progress, int | float | str) else None
        )
        snapshot.error_code = clean_text(snapshot.error_code, MAX_ERROR_CODE_CHARS)
        snapshot.error_message = clean_text(snapshot.error_message, MAX_ERROR_MESSAGE_CHARS)
        return snapshot

    def _ignored_charge(self, value) -> str:
        shown = str(value)[:40]
        return f"{self.label} reported a charge of {shown!r} credits, which cannot be right; it was ignored."

    def cancel(self, task_id: str) -> TaskSnapshot:
        raise VendorError(
            ErrorKind.BAD_REQUEST, f"{self.label} does not support cancelling a task."
        )

    @classmethod
    def same_task(cls, task_id: str) -> tuple[list[str], list[str]]:
        """(ids, prefixes) a stored task id of the same task at the vendor may have: a
        callback may name a task by less than we store for it (fal: its bare request id)."""
        return [task_id], []

    def parse_callback(self, body: bytes) -> CallbackHint:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        task_id, status = self.callback_task(data) if isinstance(data, dict) else (None, None)
        if not task_id or not isinstance(task_id, str | int):
            raise VendorError(
                ErrorKind.BAD_REQUEST, f"The {self.label} callback did not name a task."
            )
        state = self.states.get(str(status).strip().lower()) if status is not None else None
        return CallbackHint(task_id=str(task_id), state=state)

    def webhook_secret(self) -> str:
        """The account's secret for verifying callbacks, from the vendor. Only an adapter
        that sets `signs_callbacks` is asked, and it must say how (Replicate's does)."""
        raise NotImplementedError(f"{self.label} signs callbacks but cannot fetch its secret")

    @classmethod
    def verify_callback(cls, secret: str, headers, body: bytes) -> bool:
        """Whether a callback carries the vendor's valid signature."""
        return not cls.signs_callbacks

    def test_connection(self) -> str:
        path, params = self.query_endpoint(self.probe_task_id)
        try:
            self.send("GET", path, params=params)
        except VendorError as exc:
            # Asking for a task that does not exist is refused only after the key passed.
            if exc.kind in (ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST):
                return "The key works."
            if exc.kind == ErrorKind.NO_CREDIT:
                return "The key works, but the account is out of credit."
            raise
        return "The key works."

    # --- helpers for vendor modules ----------------------------------------------

    def offer_for(self, request: VideoRequest) -> Offer:
        try:
            return self.offers[Family(request.family)]
        except (KeyError, ValueError):
            raise VendorError(
                ErrorKind.BAD_REQUEST, f"{self.label} does not offer {request.family}."
            ) from None

    def created(self, task_id, charge, body: dict) -> Created:
        cleaned = clean_task_id(task_id)
        if cleaned is None:
            shown = (
                "no task id" if not task_id else f"a task id we cannot use ({str(task_id)[:60]!r})"
            )
            raise self.fail(ErrorKind.UNKNOWN_OUTCOME, f"the answer named {shown}")
        return Created(task_id=cleaned, charge_credits=to_decimal(charge), raw=body)

    def state_of(self, status) -> TaskState:
        if status is None or status == "":
            raise self.fail(ErrorKind.FAULT, "the task had no status")
        state = self.states.get(str(status).strip().lower())
        if state is None:
            raise self.fail(ErrorKind.FAULT, f"the task has a status we don't know: {status!r}")
        return state
