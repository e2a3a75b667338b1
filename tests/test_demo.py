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
