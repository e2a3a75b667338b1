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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_stops_the_demo_web_server_and_every_worker_without_killing_any(tmp_path):
    """The sweeper hands over every few seconds, so django-q2 stops its workers as soon as
    their task is done: nothing has to be killed after the 3 s grace (it took 11 s, then a
    SIGKILL, while a sweeper task held a worker for 50 s)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from django.conf import settings

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    demo = subprocess.Popen(  # noqa: S603
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                time.sleep(0.3)
        time.sleep(6)  # the cluster is up and its sweepers are running
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    last = out.strip().splitlines()[-1]
    assert last.startswith("Stopped the web server and the worker cluster in "), out[-2000:]
    # Within the 3 s grace: a child still running then would be killed and named here.
    # (No bound on the seconds themselves: on a loaded machine a clean stop took 3.0 s.)
    assert "had to be killed" not in last
    assert "sweep_generations" in out  # the sweeper really ran
    leftovers = subprocess.run(  # noqa: S603
        ["pgrep", "-f", f"runserver --noreload 127.0.0.1:{port}"],  # noqa: S607
        capture_output=True,
        text=True,
    )
    assert leftovers.stdout == ""
