from django.contrib import admin

from billing.models import Invitation, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "monthly_cap"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["team", "role", "note", "invited_by", "created", "expires", "accepted_by"]
    list_filter = ["role"]
    readonly_fields = ["token_hash"]


# --- The ledger ---
# Read-only: money moves only through billing.ledger, and corrections are new
# transfers (the Grants page), never edits here.

from billing.models import (  # noqa: E402
    Account,
    AuditEntry,
    DailySpend,
    Hold,
    MemberUsage,
    ProjectUsage,
    Transfer,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "kind", "team", "vendor", "balance", "may_go_negative"]
    list_filter = ["kind"]
    search_fields = ["team__name", "vendor", "vendor_label"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["created", "kind", "team", "amount", "debit", "credit", "member", "memo"]
    list_filter = ["kind"]
    list_select_related = ["team", "debit__team", "credit__team", "member"]
    search_fields = ["team__name", "memo", "reference", "project_name", "vendor_label"]
    date_hierarchy = "created"
    show_full_result_count = False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["created", "team", "member", "amount", "status", "captured_amount", "reference"]
    list_filter = ["status"]
    list_select_related = ["team", "member"]
    search_fields = ["uuid", "team__name", "reference", "idempotency_key", "project_name"]
    date_hierarchy = "created"


@admin.register(MemberUsage)
class MemberUsageAdmin(ReadOnlyAdmin):
    list_display = ["member", "team", "pending", "month", "spent"]
    list_select_related = ["member", "team"]
    search_fields = ["member__username", "team__name"]


@admin.register(ProjectUsage)
class ProjectUsageAdmin(ReadOnlyAdmin):
    list_display = ["project_uuid", "team", "pending", "spent"]
    list_select_related = ["team"]
    search_fields = ["project_uuid", "team__name"]


@admin.register(DailySpend)
class DailySpendAdmin(ReadOnlyAdmin):
    list_display = ["day", "team", "member", "project_name", "vendor_label", "amount"]
    list_select_related = ["team", "member"]
    search_fields = ["team__name", "project_name", "vendor_label"]
    date_hierarchy = "day"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created", "actor_name", "action", "team", "target"]
    list_filter = ["action"]
    list_select_related = ["team"]
    search_fields = ["actor_name", "target", "team__name"]
    date_hierarchy = "created"
    show_full_result_count = False
