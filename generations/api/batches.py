"""Batch runs: a CSV of shots checked row by row with the Generate page's own form, priced
as one total, then submitted all at once or not at all, followed and cancelled together.

A row names its project (by name or id: it must exist) and its scene (by title, number or
id; a title the project does not have yet starts a new scene, once, for all the rows that
name it). A confirmed batch is one deliberate act, so the member's per-minute rate does
not apply to it: its jobs wait in the queue and the workers start them in turn.
"""

import csv
import io
from collections import Counter, defaultdict

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from generations import lifecycle
from generations.access import may_cancel, parse_uuid
from generations.api.errors import API_FIELD
from generations.api.models import Batch, BatchItem, BatchState
from generations.models import Generation, Project, State
from generations.studio import presenters, services
from generations.studio.forms import GenerateForm

COLUMNS = ["prompt", "project", "scene", "model", "duration", "ratio", "resolution", "variants"]
MAX_ROWS = 200
MAX_CSV_CHARS = 1_000_000
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class BatchRefused(Exception):
    """The CSV or the batch cannot go ahead; the message says why in plain words."""


def spreadsheet_safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def read_csv(text: str) -> list[dict]:
    if len(text) > MAX_CSV_CHARS:
        raise BatchRefused("The CSV is larger than 1 MB; split it into several batches.")
    if "\x00" in text:
        # PostgreSQL stores no NUL in text or JSON: refused here, not at the batch's save.
        raise BatchRefused("The CSV contains NUL characters; save it again as plain text.")
    try:
        return _read_rows(text)
    except csv.Error as exc:
        # A cell longer than the csv module's field limit (128 KiB), among others.
        raise BatchRefused(f"The CSV could not be read ({exc}).") from None


def _read_rows(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if "prompt" not in header or "project" not in header:
        raise BatchRefused(f"The first line must name the columns: {', '.join(COLUMNS)}.")
    reader.fieldnames = header
    rows = []
    for record in reader:
        if len(rows) == MAX_ROWS:
            raise BatchRefused(f"A batch has at most {MAX_ROWS} rows.")
        fields = {name: (record.get(name) or "").strip() for name in COLUMNS}
        if any(fields.values()):
            rows.append(fields)
    if not rows:
        raise BatchRefused("The CSV has no rows under its header.")
    return rows


def _project(projects, name: str):
    uuid = parse_uuid(name)
    for p in projects:
        if p.uuid == uuid or p.name.strip().lower() == name.lower():
            return p
    return None


def _scene(project, name: str) -> tuple[str, str]:
    """(scene id, new scene title) for a row's scene column."""
    if not name:
        return "", ""
    uuid = parse_uuid(name)
    for s in project.scenes.all():
        if s.uuid == uuid or s.title.strip().lower() == name.lower() or str(s.number) == name:
            return str(s.uuid), ""
    return "", name


def form_for(team, user, fields: dict, projects) -> tuple[GenerateForm, list[dict]]:
    """The Generate form bound from one row, and the row's own errors (an unknown project)."""
    project = _project(projects, fields["project"])
    scene, new_scene = _scene(project, fields["scene"]) if project else ("", "")
    data = {
        "prompt": fields["prompt"],
        "family": fields["model"] or "seedance-2.0",
        "duration": fields["duration"] or "5",
        "aspect_ratio": fields["ratio"] or "16:9",
        "resolution": fields["resolution"] or "720p",
        "variants": fields["variants"] or "1",
        "project": str(project.uuid) if project else "",
        "scene": scene,
        "new_scene": new_scene[:120],
        "new_project": "",
    }
    errors = []
    if project is None:
        name = fields["project"]
        message = f"No project named {name!r} in this team." if name else "Name a project."
        errors.append({"field": "project", "message": message})
    elif parse_uuid(new_scene):
        # An id names a scene that exists; one not in this project (another team's, a
        # typo) is an error, not the title of a new scene.
        errors.append({"field": "scene", "message": f"No scene {new_scene} in {project.name}."})
    return GenerateForm(data, team=team, user=user), errors


def _row_errors(form, errors) -> list[dict]:
    if errors:
        return errors
    if form.is_valid():
        return []
    column = {**API_FIELD, "aspect_ratio": "ratio", "new_scene": "scene"}
    return [
        {"field": column.get(name, name), "message": message}
        for name, messages in form.errors.items()
        for message in messages
    ]


def check(team, user, name: str, text: str) -> Batch:
    """Read and check every row, price each, and keep the batch for confirmation."""
    projects = list(Project.objects.filter(team=team).prefetch_related("scenes"))
    rows = []
    for number, fields in enumerate(read_csv(text), start=1):
        form, errors = form_for(team, user, fields, projects)
        errors = _row_errors(form, errors)
        quote = presenters.quote_for(form.hush()) if not errors else None
        if quote is not None and not quote.priced:
            errors = [{"field": None, "message": "; ".join(quote.problems) or "No vendor."}]
        rows.append(
            {
                "number": number,
                "fields": fields,
                "errors": errors,
                "project": form.data["project"],
                "hold": quote.hold_total if quote and not errors else 0,
                "expected": quote.expected_total if quote and not errors else 0,
                "clips": form.variants_value(),
            }
        )
    return Batch.objects.create(team=team, created_by=user, name=name[:200], rows=rows)


def budget_reasons(batch: Batch, user) -> list[str]:
    """Why the budget or a cap would refuse the whole batch now; empty when they allow it."""
    available = ledger.balances(batch.team).available
    reasons = []
    total = sum(row["hold"] for row in batch.rows)
    refused = ledger.refusal(batch.team, user, None, total, available)
    if refused:
        reasons.append(f"All rows together: {refused}")
    by_project = defaultdict(int)
    for row in batch.rows:
        by_project[row["project"]] += row["hold"]
    projects = Project.objects.filter(team=batch.team, uuid__in=[p for p in by_project if p])
    for project in projects:
        refused = ledger.refusal(
            batch.team, user, project, by_project[str(project.uuid)], available
        )
        if refused and str(refused) not in " ".join(reasons):
            reasons.append(f"{project.name}: {refused}")
    return reasons


def totals(batch: Batch) -> dict:
    return {
        "rows": len(batch.rows),
        "clips": sum(row["clips"] for row in batch.rows),
        "hold": sum(row["hold"] for row in batch.rows),
        "expected": sum(row["expected"] for row in batch.rows),
        "invalid_rows": sum(1 for row in batch.rows if row["errors"]),
    }


def confirm(batch_pk: int, user) -> Batch:
    """Submit every row, or none: raises BatchRefused with the row that stopped it."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_pk)
        if batch.state != BatchState.PREVIEW:
            raise BatchRefused("This batch was already submitted.")
        if not batch.valid:
            raise BatchRefused("Fix the rows with errors and upload the CSV again.")
        # A refusal at any row raises out of this transaction: no row, hold or job stays.
        for row in batch.rows:
            _submit_row(batch, row, user)
        batch.state = BatchState.SUBMITTED
        batch.submitted_at = timezone.now()
        batch.save(update_fields=["state", "submitted_at"])
    return batch


def _submit_row(batch, row, user) -> None:
    # Read again now: a scene an earlier row started is found, not started twice.
    projects = list(Project.objects.filter(team=batch.team).prefetch_related("scenes"))
    form, errors = form_for(batch.team, user, row["fields"], projects)
    problems = _row_errors(form, errors)
    if problems:
        raise BatchRefused(f"Nothing was submitted. Row {row['number']}: {problems[0]['message']}")
    try:
        created = services.create_generations(batch.team, user, form.cleaned_data)
    except (ledger.Refused, lifecycle.SubmitRefused) as exc:
        raise BatchRefused(f"Nothing was submitted. Row {row['number']}: {exc}") from None
    BatchItem.objects.bulk_create(
        BatchItem(batch=batch, row=row["number"], generation=g) for g in created
    )


def progress(batch: Batch) -> dict:
    states = Counter(batch.items.values_list("generation__state", flat=True))
    finished = sum(n for state, n in states.items() if state in Generation.FINISHED)
    return {
        "total": sum(states.values()),
        "finished": finished,
        "succeeded": states.get(State.SUCCEEDED, 0),
        "waiting": states.get(State.QUEUED, 0),
        "states": dict(states),
    }


def cancel_waiting(batch: Batch, membership) -> int:
    """Cancel the batch's jobs that have not been sent to a vendor; how many were."""
    cancelled = 0
    waiting = Generation.objects.filter(batch_item__batch=batch, state=State.QUEUED)
    for generation in waiting:
        if not may_cancel(membership, generation):
            continue
        # Never lifecycle.cancel: a job a worker sent meanwhile would be cancelled at
        # its vendor, which is not what "cancel what is waiting" promised.
        if lifecycle.cancel_queued(generation, membership.user):
            cancelled += 1
    return cancelled


def write_results(batch: Batch, out, absolute) -> None:
    """Every row with its state, clip link and cost; every cell safe in a spreadsheet."""
    writer = csv.writer(out)
    writer.writerow(["row", *COLUMNS, "job id", "state", "clip", "cost ($)", "error"])
    items = defaultdict(list)
    for item in batch.items.select_related("generation"):
        items[item.row].append(item.generation)
    for row in batch.rows:
        fields = [spreadsheet_safe(row["fields"][name]) for name in COLUMNS]
        jobs = items.get(row["number"]) or [None]
        for g in jobs:
            if g is None:
                error = spreadsheet_safe("; ".join(e["message"] for e in row["errors"]))
                writer.writerow([row["number"], *fields, "", "not submitted", "", "", error])
                continue
            clip = ""
            if g.state == State.SUCCEEDED:
                clip = absolute(reverse("api-1:clip_download", args=[g.uuid]))
            cost = g.charge_micros if g.charge_micros is not None else None
            writer.writerow(
                [
                    row["number"],
                    *fields,
                    g.uuid,
                    g.state,
                    clip,
                    ledger.dollars(cost).lstrip("$").replace(",", "") if cost is not None else "",
                    spreadsheet_safe(g.error_message),
                ]
            )
