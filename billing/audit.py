"""The audit log: who changed what, and when, in words an owner or operator can read.

A view records one entry after a change succeeds, inside the change's transaction
when it has one, with the changed fields as {field: [old, new]}; `diff()` builds that
from two snapshots. A secret never reaches the log: it goes in only through
`secret_change()`, which keeps its last four characters, and `record()` refuses a
secret-looking field holding anything else.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction

from billing.models import AuditEntry
from billing.models.audit import ACTION_LABELS

# Field names that may only ever hold a masked value.
SECRET_WORDS = ("key", "token", "password", "secret")
MASKED_PREFIX = "last 4: "
CHANGED = "changed"


def register_actions(actions: type[models.TextChoices]) -> None:
    """Give the log an app's actions and their labels; call it from AppConfig.ready().

    A value is stored in every entry, so it may never change meaning: two apps
    claiming one value with different labels is a configuration error.
    """
    for value, label in actions.choices:
        if ACTION_LABELS.setdefault(value, label) != label:
            raise ImproperlyConfigured(f"The audit action {value!r} is registered twice.")


def record(actor, action, *, team=None, target="", changes=None) -> AuditEntry:
    if actor is not None and not actor.is_authenticated:
        actor = None
    changes = dict(changes or {})
    _refuse_secrets(changes)
    return AuditEntry.objects.create(
        team=team,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        target=str(target)[:300],
        changes=changes,
    )


def record_change(actor, action, *, team, target, field, before, after, as_text=str):
    """One entry for `field` going from `before` to `after`; nothing when it did not change."""
    if before == after:
        return None
    changes = {field: [as_text(before), as_text(after)]}
    return record(actor, action, team=team, target=target, changes=changes)


def save_field(actor, action, obj, field, value, *, team, target, as_text=str):
    """Set and save one field of `obj` and record the change, in one transaction."""
    before = getattr(obj, field)
    setattr(obj, field, value)
    with transaction.atomic():
        obj.save(update_fields=[field])
        record_change(
            actor,
            action,
            team=team,
            target=target,
            field=field,
            before=before,
            after=value,
            as_text=as_text,
        )


def diff(before: dict, after: dict) -> dict:
    """{field: [old, new]} for each field whose value differs between two snapshots."""
    names = list(after) + [name for name in before if name not in after]
    return {
        name: [before.get(name), after.get(name)]
        for name in names
        if before.get(name) != after.get(name)
    }


def masked(last4: str | None) -> str | None:
    return f"{MASKED_PREFIX}{last4}" if last4 else None


def secret_change(old_last4: str | None, new_last4: str | None) -> list:
    """A replaced secret as [old, new]: last four characters, or "changed" when they match."""
    old, new = masked(old_last4), masked(new_last4)
    return [old, CHANGED if new == old else new]


def _refuse_secrets(changes: dict) -> None:
    for name, values in changes.items():
        if not any(word in name.lower() for word in SECRET_WORDS):
            continue
        for value in values:
            if value not in (None, CHANGED) and not str(value).startswith(MASKED_PREFIX):
                raise ValueError(f"The audit log keeps only the last 4 characters of {name}.")
