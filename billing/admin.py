from django.contrib import admin

from billing.models import Invitation, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "routing_policy", "created"]
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
