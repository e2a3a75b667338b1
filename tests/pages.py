"""Every page of the studio with something on it, for the tests that visit them all
(tests/test_csp.py with Django's client, tests/browser/test_csp.py in Chromium).

Clips are stored under MEDIA_ROOT: point it at a temporary directory first.
"""

from dataclasses import dataclass

from billing import ledger
from billing.models import Invitation, Role
from generations.models import State
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

USD = 1_000_000


@dataclass
class Studio:
    team_pages: list[str]  # as a team's owner
    operator_pages: list[str]  # as an operator, who belongs to no team
    public_pages: list[str]  # signed out
    team_fragments: list[tuple[str, dict]]  # htmx requests (url, headers) as the owner


def furnish(team, owner, member, operator) -> Studio:
    """Money, a vendor, a project with a storyboard of finished clips, jobs in every
    state, an invitation; and the addresses of the pages that show them."""
    ledger.grant(team, 40 * USD, operator, "Welcome credits", "welcome")
    kinovi = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project = ProjectFactory(team=team, name="Harbour lights", created_by=owner)
    scene = SceneFactory(project=project, title="The ferry leaves")
    take = GenerationFactory(
        project=project,
        scene=scene,
        created_by=member,
        succeeded=True,
        vendor_account=kinovi,
        prompt="A night ferry leaves the harbour, lights smearing on the water",
    )
    scene.chosen_take = take
    scene.save(update_fields=["chosen_take"])
    ledger.capture(
        ledger.hold(team, member, project, 2 * USD, "Ferry", f"generation:{take.uuid}"),
        1_500_000,
        "kinovi",
        "Kinovi main",
    )
    running = GenerationFactory(
        project=project, created_by=member, running=True, vendor_account=kinovi, progress=55
    )
    GenerationFactory(project=project, created_by=owner, failed=True)
    stuck = GenerationFactory(
        project=project,
        created_by=member,
        state=State.NEEDS_ATTENTION,
        vendor_account=kinovi,
        error_kind="unknown_outcome",
        error_message="Kinovi main did not answer the create in time.",
        prompt="Gulls circle the lighthouse in a storm, spray on the lens",
    )
    stuck.log("needs_attention", "Kinovi main did not answer the create in time.")
    _, token = Invitation.create(team, Role.MEMBER, owner, note="For the colourist")
    return Studio(
        team_pages=[
            "/generate/",
            "/jobs/",
            f"/jobs/{running.uuid}/",
            "/gallery/",
            f"/clips/{take.uuid}/",
            "/projects/",
            f"/projects/{project.uuid}/",
            f"/projects/{project.uuid}/storyboard/",
            "/billing/",
            "/billing/caps/",
            "/team/",
            "/team/audit/",
            "/account/password/",
            "/account/password/done/",
        ],
        operator_pages=[
            "/billing/grants/",
            "/vendors/",
            "/vendors/add/",
            "/attention/",
            f"/attention/{stuck.uuid}/",
            f"/vendors/{kinovi.uuid}/",
            "/audit/",
            "/admin/",
            "/admin/generations/generation/",
            f"/admin/generations/generation/{take.pk}/change/",
            f"/admin/billing/team/{team.pk}/change/",
            "/admin/generations/vendoraccount/add/",
            "/teams/none/",
        ],
        public_pages=["/login/", f"/invitations/{token}/"],
        team_fragments=[
            (f"/jobs/{running.uuid}/card/", {"HX-Request": "true"}),
            ("/gallery/", {"HX-Request": "true", "HX-Target": "gallery-results"}),
            ("/billing/", {"HX-Request": "true"}),
            ("/billing/badge/", {"HX-Request": "true"}),
        ],
    )
