"""Django's cached_db sessions (the cache first, then the table), the table read as
seedance_site.sessions reads it."""

from django.contrib.sessions.backends import cached_db

from seedance_site.sessions import WrittenLookup


class SessionStore(WrittenLookup, cached_db.SessionStore):
    pass
