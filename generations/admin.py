from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from billing import audit, ledger
from billing.admin import TeamAdmin
from billing.models import Team
from generations.models import (
    Clip,
    Favourite,
    Generation,
    GenerationEvent,
    GenerationsAuditAction,
    Project,
    RoutingPolicy,
    Scene,
    TeamRouting,
    VendorAccount,
    WorkerLease,
)
from generations.operators.vendor_forms import VendorAccountForm


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    """The Vendors page's form and audit entries; the key is as write-only here as there."""

    form = VendorAccountForm
    list_display = ["label", "protocol", "enabled", "priority", "max_concurrent", "masked_key"]
    list_filter = ["protocol", "enabled"]
    fields = [
        "label",
        "protocol",
        "base_url",
        "masked_key",
        "api_key",
        "enabled",
        "priority",
        "max_concurrent",
        "credit_value",
        "price_rules",
        "cooldown_until",
        "consecutive_errors",
        "last_error",
    ]
    readonly_fields = ["masked_key", "cooldown_until", "consecutive_errors", "last_error"]

    @method_decorator(sensitive_post_parameters("api_key"))
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        form.record(request.user)

    def delete_model(self, request, obj):
        _record_deletion(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for account in queryset:
            _record_deletion(request, account)
        super().delete_queryset(request, queryset)


def _record_deletion(request, account):
    audit.record(
        request.user,
        GenerationsAuditAction.VENDOR_DELETED,
        target=str(account),
        changes={"api_key": [audit.masked(account.api_key_last4), None]},
    )


class SceneInline(admin.TabularInline):
    model = Scene
    extra = 0
    fields = ["number", "title", "notes"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "spend_cap", "created"]
    list_filter = ["team"]
    search_fields = ["name"]
    inlines = [SceneInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "spend_cap" in form.changed_data:
            audit.record_change(
                request.user,
                GenerationsAuditAction.PROJECT_CAP_SET,
                team=obj.team,
                target=obj.name,
                field="spend_cap",
                before=form.initial.get("spend_cap"),
                after=obj.spend_cap,
                as_text=ledger.cap_text,
            )


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "number"]
    raw_id_fields = ["chosen_take"]


class EventInline(admin.TabularInline):
    model = GenerationEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created", "kind", "message", "data"]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    """A job's state, money and place at the vendor change only through the lifecycle:
    a stuck job is settled on the Needs attention page, never by editing its row here."""

    list_display = ["uuid", "team", "family", "state", "vendor_account", "created"]
    list_filter = ["state", "family", "vendor_account"]
    search_fields = ["prompt", "vendor_task_id", "uuid"]
    raw_id_fields = ["project", "scene", "created_by", "remix_of"]
    readonly_fields = [
        "state",
        "hold",
        "quote_micros",
        "quote_credits",
        "charge_micros",
        "charge_credits",
        "price_micros",
        "vendor_task_id",
        "output_url",
        "claimed_at",
        "step_failures",
        "not_found_checks",
        "callback_token_hash",
        # Whose job it is, where it ran and when it must end are the lifecycle's too.
        "team",
        "vendor_account",
        "expires_at",
        "next_check_at",
        "poll_count",
        "submit_attempts",
    ]
    # Vendors' file addresses are https; say so rather than take Django 5's http default.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [EventInline]

    def get_fieldsets(self, request, obj=None):
        [(name, options)] = super().get_fieldsets(request, obj)
        page = reverse("needs_attention")
        description = format_html(
            "State, money, the vendor's task id and the clip's address are read-only here. "
            'To settle a job that needs attention, use the <a href="{}">Needs attention</a> '
            "page: it returns or charges the hold and records who did it.",
            page,
        )
        return [(name, {**options, "description": description})]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["generation", "width", "height", "duration", "bytes"]
    raw_id_fields = ["generation"]

    # A clip's record goes with its job (delete the job, which takes its clip along):
    # alone, the job would still count as a finished clip that no page can show.
    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied("Delete the clip's job instead.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(GenerationEvent)
class GenerationEventAdmin(admin.ModelAdmin):
    list_display = ["generation", "kind", "created"]
    list_filter = ["kind"]
    raw_id_fields = ["generation"]


admin.site.register(Favourite)
admin.site.register(WorkerLease)


# --- A team's routing ---
# The policy belongs to generations, so it joins billing's Team page here, as an inline.


class TeamRoutingInline(admin.StackedInline):
    model = TeamRouting
    can_delete = False
    max_num = 1


admin.site.unregister(Team)


@admin.register(Team)
class TeamWithRoutingAdmin(TeamAdmin):
    list_display = ["name", "routing_policy", "created"]
    list_select_related = ["routing"]
    inlines = [*TeamAdmin.inlines, TeamRoutingInline]

    @admin.display(description="routing policy")
    def routing_policy(self, team):
        routing = getattr(team, "routing", None)
        return RoutingPolicy(routing.policy if routing else RoutingPolicy.CHEAPEST).label


@admin.register(TeamRouting)
class TeamRoutingAdmin(admin.ModelAdmin):
    list_display = ["team", "policy"]
    list_filter = ["policy"]
    list_select_related = ["team"]
