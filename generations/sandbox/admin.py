from django.contrib import admin

from .models import SandboxKey, SandboxTask


@admin.register(SandboxKey)
class SandboxKeyAdmin(admin.ModelAdmin):
    list_display = ["key_prefix", "label", "faults", "created"]
    search_fields = ["key_prefix", "label"]


@admin.register(SandboxTask)
class SandboxTaskAdmin(admin.ModelAdmin):
    list_display = ["task_id", "protocol", "model", "state", "duration", "charge", "created"]
    list_filter = ["protocol", "outcome"]
    search_fields = ["task_id", "prompt"]
    readonly_fields = [field.name for field in SandboxTask._meta.fields]

    @admin.display(description="state now")
    def state(self, task):
        return task.snapshot().state

    def has_add_permission(self, request):
        return False
