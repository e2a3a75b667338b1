"""Sessions as Django keeps them, read by a written query (the one read on every request).

SESSION_ENGINE names this module (or sessions_cached, with a cache in front): the store is
Django's own; only the lookup of a session by its key is written out, since the ORM took
longer to build that query than the database took to answer it.
"""

from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from seedance_site import written


class WrittenLookup:
    def _get_session_from_db(self):
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        found = written.instances(_lookup_sql(), [self.session_key, now], Session)
        if found:
            return found[0][0]
        self._session_key = None  # as Django's: no session (or an expired one) by that key
        return None


@cache
def _lookup_sql() -> str:
    # Names from the model's own metadata; the key and the time go as parameters.
    selected = written.columns(Session, "s")
    return (
        f"SELECT {selected} FROM {written.table(Session)} AS s "  # noqa: S608
        "WHERE s.session_key = %s AND s.expire_date > %s"
    )


class SessionStore(WrittenLookup, db.SessionStore):
    pass
