"""Objects as the API writes them."""

from django.urls import reverse

from billing import ledger


def money(micros: int | None) -> dict:
    micros = micros or 0
    return {"micros": micros, "text": ledger.dollars(micros)}


def clip(request, generation) -> dict | None:
    c = getattr(generation, "clip", None) if generation.state == "succeeded" else None
    if c is None:
        return None
    return {
        "duration": c.duration,
        "width": c.width,
        "height": c.height,
        "fps": c.fps,
        "codec": c.codec,
        "has_audio": c.has_audio,
        "bytes": c.bytes,
        "sha256": c.sha256,
        "project_id": generation.project.uuid,
        "scene_id": generation.scene.uuid if generation.scene_id else None,
        "download_url": request.build_absolute_uri(
            reverse("api-1:clip_download", args=[generation.uuid])
        ),
        "poster_url": request.build_absolute_uri(
            reverse("api-1:clip_poster", args=[generation.uuid])
        ),
    }


def generation(request, g) -> dict:
    return {
        "id": g.uuid,
        "state": g.state,
        "state_label": g.get_state_display(),
        "model": g.family,
        "prompt": g.prompt,
        "project": g.project.uuid,
        "scene": g.scene.uuid if g.scene_id else None,
        "submission": g.batch,
        "created": g.created,
        "finished_at": g.finished_at,
        "progress": g.progress,
        "quote": money(g.quote_micros),
        "charge": money(g.charge_micros) if g.charge_micros is not None else None,
        "error": g.error_message,
        "clip": clip(request, g),
    }


def generation_detail(request, g) -> dict:
    events = g.events.order_by("created", "id")
    return {
        **generation(request, g),
        "timeline": [{"at": e.created, "kind": e.kind, "message": e.message} for e in events],
    }


def quote(summary) -> dict:
    first = summary.first
    return {
        "ok": summary.ok,
        "reasons": list(summary.reasons),
        "vendor": first.account.label if first else None,
        "each": money(first.micros if first else 0),
        "expected_total": money(summary.expected_total),
        "hold_total": money(summary.hold_total),
        "available": money(summary.available),
        "available_after": money(summary.after),
        "alternatives": summary.alternatives_text(),
        "problems": list(summary.problems),
    }


def statement_line(line) -> dict:
    t = line.transfer
    return {
        "id": t.uuid,
        "created": t.created,
        "entry": t.get_kind_display(),
        "member": t.member.username if t.member else "",
        "project": t.project_name,
        "project_id": t.project_uuid,
        "vendor": t.vendor_label or t.vendor,
        "memo": t.memo,
        "available_change": line.available,
        "on_hold_change": line.on_hold,
        "spent": line.spent,
    }
