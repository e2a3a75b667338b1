from django.contrib import admin

from generations.models import (
    Clip,
    Favourite,
    Generation,
    GenerationEvent,
    Project,
    Scene,
    VendorAccount,
    WorkerLease,
)


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    list_display = ["label", "protocol", "enabled", "priority", "max_concurrent", "masked_key"]
    list_filter = ["protocol", "enabled"]
    # The API key is write-only: the admin shows its last four characters, never the value.
    exclude = ["api_key_encrypted"]
    readonly_fields = ["masked_key", "cooldown_until", "consecutive_errors", "last_error"]


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
    list_display = ["uuid", "team", "family", "state", "vendor_account", "created"]
    list_filter = ["state", "family", "vendor_account"]
    search_fields = ["prompt", "vendor_task_id", "uuid"]
    raw_id_fields = ["project", "scene", "created_by", "remix_of", "hold"]
    readonly_fields = ["callback_token_hash"]
    inlines = [EventInline]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["generation", "width", "height", "duration", "bytes"]
    raw_id_fields = ["generation"]


@admin.register(GenerationEvent)
class GenerationEventAdmin(admin.ModelAdmin):
    list_display = ["generation", "kind", "created"]
    list_filter = ["kind"]
    raw_id_fields = ["generation"]


admin.site.register(Favourite)
admin.site.register(WorkerLease)
