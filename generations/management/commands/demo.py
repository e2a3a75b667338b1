"""Run the whole app on this machine: migrate, seed demo data, serve, work.

The web server and a django-q2 cluster run as two child processes in the
foreground; Ctrl-C (or SIGTERM) stops both and waits for them, so nothing is
left behind.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from billing.teams.demo import DEMO_PASSWORD, seed_people
from generations import demo as generations_demo

STOP_GRACE_SECONDS = 3


class Command(BaseCommand):
    help = "Run Seedance Studio with demo data, the vendor sandbox and a worker cluster."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--no-serve", action="store_true", help="Only migrate and seed, then exit."
        )

    def handle(self, *args, port, host, no_serve, **options):
        if not settings.SANDBOX_ENABLED:
            # Demo logins have a published password and its vendors are the sandbox:
            # neither belongs in a production database.
            raise CommandError(
                "The demo needs the vendor sandbox; it is off here (SANDBOX_ENABLED=false). "
                "Run the demo on a development checkout, not in production."
            )
        base_url = os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{port}"
        os.environ["PUBLIC_BASE_URL"] = base_url
        settings.PUBLIC_BASE_URL = base_url

        call_command("migrate", interactive=False, verbosity=0)
        team, logins = seed_people()
        for line in self.seed_more(team):
            self.stdout.write(line)

        self.stdout.write(self.style.SUCCESS(f"\nSeedance Studio demo: {base_url}/"))
        self.stdout.write(f"Every demo login has the password {DEMO_PASSWORD!r}:")
        for username, role in logins:
            self.stdout.write(f"  {username:<10} {role}")
        if no_serve:
            return
        self.stdout.write("Press Ctrl-C to stop the web server and the worker cluster.\n")
        self.serve(host, port)

    def seed_more(self, team):
        """Demo data of the other parts (vendor accounts, credits, sample clips)."""
        return generations_demo.seed(team)

    def serve(self, host, port):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children = [
            # Each child leads its own process group, so stopping reaches the cluster's
            # worker processes too, not just the process we started.
            subprocess.Popen(  # noqa: S603
                [*manage, "runserver", "--noreload", f"{host}:{port}"], start_new_session=True
            ),
            subprocess.Popen([*manage, "qcluster"], start_new_session=True),  # noqa: S603
        ]
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(c.poll() is None for c in children):
                time.sleep(0.2)
        finally:
            started = time.monotonic()
            killed = stop_all(children)
        took = time.monotonic() - started
        if killed:
            self.stdout.write(
                f"Stopped the web server and the worker cluster in {took:.1f} s; "
                f"{', '.join(killed)} had to be killed."
            )
        else:
            self.stdout.write(f"Stopped the web server and the worker cluster in {took:.1f} s.")


def stop_all(children, grace=STOP_GRACE_SECONDS) -> list[str]:
    """Ask each child to stop, and kill what is left after `grace`; returns what was killed.

    Only each child itself is asked (SIGTERM): django-q2's cluster then stops its own
    workers once their current task is done (the sweeper's take a second or two). A
    signal to the whole group would reach the cluster's sentinel, which dies of it and
    leaves the cluster waiting for workers that are gone.
    """
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    killed = []
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.append(" ".join(child.args[2:3]) or str(child.pid))
            _signal_group(child, signal.SIGKILL)
            child.wait()
    # The leaders are gone; make sure nothing they started outlives them.
    for child in children:
        _signal_group(child, signal.SIGKILL)
    return killed


def _signal_group(child, signum):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)
