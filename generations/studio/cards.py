"""The cards of the gallery: what each shows, and the digest its kept markup is keyed by
(seedance_site/fragments.py). The jobs page's cards are in job_cards.py."""

from functools import cached_property

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator

from generations.vendors import family_label
from seedance_site import fragments
from seedance_site.web import uuid_path


class ClipRow:
    """A clip read as a row of values() (`row`: its uuid, clip__width, clip__height,
    clip__duration, created_by__username): what every card of a clip writes of it."""

    row: dict
    uuid: str

    @property
    def href(self) -> str:
        return uuid_path("clip", self.uuid)

    @property
    def video_url(self) -> str:
        return uuid_path("clip_video", self.uuid)

    @property
    def poster_url(self) -> str:
        return uuid_path("clip_poster", self.uuid)

    @property
    def width(self) -> int:
        return self.row["clip__width"]

    @property
    def height(self) -> int:
        return self.row["clip__height"]

    @property
    def seconds(self) -> str:
        return str(int(self.row["clip__duration"] + 0.5))  # as floatformat:0 rounds

    @property
    def who(self) -> str:
        return self.row["created_by__username"] or "someone"


class Card(ClipRow):
    """A gallery card: its row, and the words and addresses it shows, each worked out in
    Python (as template filters, 24 cards cost twice as much to render) and only when the
    card's markup is rendered: a card whose markup is cached by `digest` needs none."""

    def __init__(self, row: dict):
        self.row = row  # gallery.CARD_FIELDS and is_favourite, as values() gives them
        self.uuid = str(row["uuid"])
        self.is_favourite = row["is_favourite"]
        self.mode = row.get("mode") or "text"
        # (role label, thumbnail address, asset name) of each input: assets.inputs.on_cards.
        self.inputs = []

    @property
    def pk(self) -> int:
        return self.row["pk"]

    @property
    def created(self):
        return self.row["created"]

    @property
    def digest(self) -> str:
        """What the card shows, as its cached markup's key (seedance_site/fragments.py):
        its row, its inputs, and the time zone its date is written in."""
        return self.digest_in(timezone.get_current_timezone_name())

    def digest_in(self, zone: str) -> str:
        """The digest, with the time zone's name read once for a page of cards. The row's
        values alone: its keys are the same for every card (gallery.CARD_COLUMNS)."""
        return fragments.digest(tuple(self.row.values()), self.inputs, zone)

    @cached_property
    def favourite_url(self) -> str:
        return uuid_path("favourite", self.uuid)

    @property
    def prompt(self) -> str:
        return Truncator(self.row["prompt"]).chars(90)

    @property
    def where(self) -> str:
        row = self.row
        place = [row["project__name"], row["scene__title"] or "", family_label(row["family"])]
        return " · ".join(part for part in place if part)

    @cached_property
    def _created(self):
        return timezone.localtime(self.row["created"])

    @property
    def created_iso(self) -> str:
        return self._created.isoformat()

    @property
    def created_day(self) -> str:
        return date_format(self._created, "M j")

    @property
    def vendor(self) -> str:
        return self.row["vendor_account__label"] or ""


def card(row: dict) -> Card:
    """`row` holds gallery.CARD_FIELDS and is_favourite, as values() gives them."""
    return Card(row)
