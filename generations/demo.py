"""Demo data of generations: one sandbox vendor account per protocol, a budget,
a project with scenes, and a few sample prompts the worker cluster turns into clips."""

from django.conf import settings
from django.contrib.auth import get_user_model

from billing import ledger
from generations import lifecycle
from generations.models import Generation, Project, Scene, TeamRouting, VendorAccount
from generations.vendors import DEFAULT_CREDIT_VALUE, REGISTRY, VideoRequest, default_price_rules

DEMO_BUDGET = 250 * 1_000_000
SAMPLES = [
    ("A red fox trots through fresh snow at dawn, low tracking shot", "seedance-2.0", 5, "16:9"),
    ("Neon rain on a night market street, slow dolly forward", "seedance-2.0-fast", 5, "9:16"),
    ("Macro shot of coffee being poured, steam curling in warm light", "seedance-2.0", 5, "1:1"),
]


def seed(team) -> list[str]:
    lines = []
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    for priority, protocol in enumerate(REGISTRY, start=1):
        account = VendorAccount.objects.filter(
            label=f"{REGISTRY[protocol].label} (sandbox)"
        ).first()
        if account is None:
            account = VendorAccount(
                protocol=protocol,
                label=f"{REGISTRY[protocol].label} (sandbox)",
                priority=priority,
                credit_value=DEFAULT_CREDIT_VALUE[protocol],
                price_rules=default_price_rules(protocol),
            )
            account.set_api_key(f"sk-sandbox-demo-{protocol}")
        account.base_url = f"{base}/sandbox/{protocol}"
        account.save()
    lines.append(f"Vendor accounts: {VendorAccount.objects.count()} (sandbox)")

    # The operators' page for the team (admin) shows and changes its routing.
    TeamRouting.objects.get_or_create(team=team)

    operator = get_user_model().objects.get(username="operator")
    ledger.grant(team, DEMO_BUDGET, by=operator, memo="Demo budget", key="demo-budget")
    lines.append(f"Team budget: {ledger.dollars(ledger.balances(team).available)} available")

    member = get_user_model().objects.get(username="member")
    project, _ = Project.objects.get_or_create(
        team=team, name="Launch trailer", defaults={"created_by": member}
    )
    for number, title in enumerate(["Opening", "The city", "Closing shot"], start=1):
        Scene.objects.get_or_create(project=project, number=number, defaults={"title": title})
    if not Generation.objects.filter(team=team).exists():
        scenes = list(project.scenes.order_by("number"))
        for (prompt, family, duration, aspect), scene in zip(SAMPLES, scenes, strict=True):
            request = VideoRequest(
                family=family,
                prompt=prompt,
                duration=duration,
                aspect_ratio=aspect,
                resolution="720p",
                metadata={"projectId": str(project.uuid), "sceneId": str(scene.uuid)},
            )
            lifecycle.submit(
                team=team, member=member, project=project, scene=scene, request=request
            )
        lines.append(f"Sample jobs: {len(SAMPLES)} queued; the workers finish them in seconds")
    return lines
