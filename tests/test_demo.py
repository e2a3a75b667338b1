from django.contrib.auth import get_user_model
from django.core.management import call_command

from billing.models import Membership, Team


def test_demo_seeds_its_people_once(db, capsys):
    call_command("demo", "--no-serve")
    call_command("demo", "--no-serve")
    out = capsys.readouterr().out
    team = Team.objects.get(name="Demo Studio")
    assert Team.objects.filter(name="Demo Studio").count() == 1
    assert {m.user.username: m.role for m in Membership.objects.filter(team=team)} == {
        "owner": "owner",
        "member": "member",
        "viewer": "viewer",
    }
    assert get_user_model().objects.get(username="operator").is_staff
    assert "seedance-demo" in out
    assert "http://127.0.0.1:8000/" in out


def test_stopping_reaches_every_process_a_child_started(tmp_path):
    """A child that ignores SIGTERM and has started a grandchild (as a busy qcluster has)
    is killed with its whole group: nothing outlives the demo."""
    import os
    import subprocess
    import sys
    import time

    from generations.management.commands.demo import stop_all

    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())

    stop_all([child], grace=0.5)

    assert child.poll() is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        # A killed grandchild whose parent died is reaped by init; until then it is a zombie.
        try:
            with open(f"/proc/{grandchild}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the grandchild outlived the demo")
