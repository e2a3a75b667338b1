"""The demo team: created idempotently by `manage.py demo`."""

from django.contrib.auth import get_user_model

from billing.models import Membership, Role, Team

DEMO_PASSWORD = "seedance-demo"  # noqa: S105 (published on purpose: demo only)
DEMO_TEAM = "Demo Studio"
DEMO_PEOPLE = [
    # (username, role in the demo team, is operator)
    ("operator", None, True),
    ("owner", Role.OWNER, False),
    ("member", Role.MEMBER, False),
    ("viewer", Role.VIEWER, False),
]


def seed_people() -> tuple[Team, list[tuple[str, str]]]:
    User = get_user_model()
    team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
    logins = []
    for username, role, operator in DEMO_PEOPLE:
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.invalid"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
        user.is_staff = user.is_superuser = operator
        user.save()
        if role:
            Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
        logins.append((username, "operator (staff)" if operator else Role(role).label.lower()))
    return team, logins
