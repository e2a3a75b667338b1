"""What the studio pages do once a form is valid: create projects and scenes, submit jobs.

Views call one of these; the forms that fed them only validated.
"""

from django.db import IntegrityError, transaction

from generations import lifecycle
from generations.models import Generation, Project, Scene
from generations.studio import ratelimit
from generations.vendors import VideoRequest


def create_project(team, user, *, name: str, description: str = "") -> Project:
    return Project.objects.create(team=team, name=name, description=description, created_by=user)


def add_scene(project: Project, title: str, notes: str = "") -> Scene:
    """A new scene at the end of the project; two at once get consecutive numbers."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return Scene.objects.create(
                    project=project, number=project.next_scene_number(), title=title, notes=notes
                )
        except IntegrityError:
            continue
    raise IntegrityError("Could not number the new scene; try again.")


def submit_generations(
    team, user, data: dict, inputs: dict | None = None, accounts=None
) -> list[Generation]:
    """Create the project or scene typed in, and the generations, all or nothing.

    `data` is a valid GenerateForm's cleaned_data, `inputs` a valid InputsForm's (the
    mode and the (role, asset) pairs it chose), `accounts` the form's enabled vendor
    accounts (read again when not given). Raises ratelimit.TooFast,
    lifecycle.SubmitRefused or ledger.Refused with a member-readable message.
    """
    # One transaction: the rate check's own (it holds the member's place until the
    # rows exist), which the project, scene and jobs below share.
    with ratelimit.starting(user, data["variants"]):
        return create_generations(team, user, data, inputs, accounts=accounts)


def create_generations(
    team, user, data: dict, inputs: dict | None = None, accounts=None
) -> list[Generation]:
    """submit_generations without the member's rate: for a batch a member confirmed as a
    whole, whose jobs the workers start in turn. Call it inside a transaction that any
    exception from here leaves (it is all or nothing with the caller's other rows)."""
    project = data["project"]
    if project is None:
        project = create_project(team, user, name=data["new_project"].strip())
    scene = data["scene"]
    if data["new_scene"].strip():
        scene = add_scene(project, data["new_scene"].strip())
    metadata = {"projectId": str(project.uuid)}
    if scene is not None:
        metadata["sceneId"] = str(scene.uuid)
    request = VideoRequest(
        family=data["family"],
        prompt=data["prompt"],
        duration=data["duration"],
        aspect_ratio=data["aspect_ratio"],
        resolution=data["resolution"],
        audio=bool(data["audio"]),
        mode=inputs["mode"] if inputs else "text",
        metadata=metadata,
    )
    return lifecycle.submit(
        team=team,
        member=user,
        project=project,
        request=request,
        scene=scene,
        pinned=data["account"],
        variants=data["variants"],
        remix_of=data["remix_of"],
        inputs=inputs["chosen"] if inputs else (),
        accounts=accounts,
        # Inside the caller's transaction (the rate check's, a batch's), which every
        # refusal raised here leaves whole: nothing to keep, so no savepoint.
        savepoint=False,
    )
