"""Signing in, with a limit on guessing passwords.

Within any WINDOW, one username (in any letter case) may fail FAILURES_PER_USERNAME
sign-ins and one client address FAILURES_PER_ADDRESS; beyond that an attempt is refused
without its password being checked, until the oldest of those failures is WINDOW old.

Each counter is a row of cache slots, one per allowed failure, each expiring WINDOW
after it was taken. An attempt claims a free slot in both of its counters *before* the
password is checked (`cache.add` is atomic on Redis and on the database cache), so
parallel guesses cannot all slip past a count read a moment earlier; a success gives its
slots back. The cache is Redis or a table in the database (settings.CACHES), shared by
every web process.

A success forgets the username's failures but not the address's: otherwise one valid
account would let a guesser reset their own limit between tries at other accounts.

Changing a password asks for the old one: a wrong one counts against the same username
limit, so a session left open is not a way around it.
"""

import hashlib
import logging
import math
import time
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

logger = logging.getLogger(__name__)

FAILURES_PER_USERNAME = 5
FAILURES_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)


def client_ip(request) -> str:
    """The address the request came from, believing only our own proxies.

    With TRUSTED_PROXY_COUNT = N > 0, each of our N proxies appended the address it
    was connected from to X-Forwarded-For, so the client is the N-th entry from the
    right; anything further left was written by the client and proves nothing.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


class Failures:
    """Recent failed sign-ins under one name: `limit` cache slots holding when each was."""

    def __init__(self, name: str, limit: int):
        self.name = name
        self.slots = [f"login-failures:{name}:{i}" for i in range(limit)]

    def _taken(self) -> dict[str, float]:
        return cache.get_many(self.slots)

    def claim(self, now: float) -> str | None:
        """Take a free slot for an attempt made `now`; None when every slot is taken."""
        taken = self._taken()
        for slot in self.slots:
            if slot not in taken and cache.add(slot, now, timeout=WINDOW.total_seconds()):
                return slot
        return None

    def seconds_to_wait(self, now: float) -> float:
        """0 while a slot is free, else how long until the oldest failure expires."""
        taken = self._taken()
        if len(taken) < len(self.slots):
            return 0.0
        return max(0.0, min(taken.values()) + WINDOW.total_seconds() - now)

    def clear(self) -> None:
        cache.delete_many(self.slots)


def username_failures(username: str) -> Failures:
    # Hashed: a username may hold characters a cache key should not.
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()
    return Failures(f"username:{digest}", FAILURES_PER_USERNAME)


def address_failures(request) -> Failures | None:
    address = client_ip(request) if request is not None else ""
    return Failures(f"address:{address}", FAILURES_PER_ADDRESS) if address else None


def too_many_attempts(seconds: float, what: str = "failed sign-in attempts") -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many {what}. Try again in {minutes} {unit}."


class ThrottledLoginMixin:
    """Refuses an attempt over either limit before authenticate() sees its password."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()
        by_username = username_failures(username)
        by_address = address_failures(self.request)
        counters = [c for c in (by_username, by_address) if c is not None]
        now = time.time()
        claimed = {}
        for counter in counters:
            slot = counter.claim(now)
            if slot is None:
                cache.delete_many(claimed.values())
                wait = max(c.seconds_to_wait(now) for c in counters)
                raise ValidationError(too_many_attempts(wait), code="throttled")
            claimed[counter] = slot
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None:
                for counter, slot in claimed.items():
                    if slot == counter.slots[-1]:
                        logger.warning("Refusing sign-ins for %s for %s", counter.name, WINDOW)
            else:
                # A right password for an account that may not sign in here (inactive,
                # or not staff at the admin) is not a guess: give its slots back.
                cache.delete_many(claimed.values())
            raise
        cache.delete_many(claimed.values())
        by_username.clear()
        return cleaned


class PasswordChangeThrottledForm(PasswordChangeForm):
    """A wrong old password is a failed attempt on the account, refused over the limit."""

    def clean_old_password(self):
        counter = username_failures(self.user.get_username())
        now = time.time()
        slot = counter.claim(now)
        if slot is None:
            wait = counter.seconds_to_wait(now)
            raise ValidationError(too_many_attempts(wait, "wrong passwords"), code="throttled")
        old_password = super().clean_old_password()  # a wrong one keeps its slot
        cache.delete(slot)
        counter.clear()
        return old_password


class SignInForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    authentication_form = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", code="throttled"):
            response.status_code = 429
        return response


class StudioAdminSite(admin.AdminSite):
    """The Django admin, signing in and changing passwords under the same limits."""

    login_form = AdminSignInForm

    def password_change(self, request, extra_context=None):
        # One page changes passwords, throttled: the admin's own would be a way around it.
        return redirect("password_change")
