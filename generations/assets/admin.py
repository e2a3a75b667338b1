from django.contrib import admin

from generations.assets.models import Asset, GenerationInput


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    # Operators (staff) only, like every admin page: members see assets in the product,
    # scoped to their team.
    list_display = ["name", "kind", "format", "team", "project", "bytes", "created"]
    list_filter = ["kind", "format"]
    search_fields = ["name", "uuid"]
    raw_id_fields = ["team", "project", "created_by", "source_generation"]
    readonly_fields = ["uuid", "sha256", "bytes", "content_type", "format", "unusable_by"]


@admin.register(GenerationInput)
class GenerationInputAdmin(admin.ModelAdmin):
    list_display = ["generation", "role", "position", "asset"]
    raw_id_fields = ["generation", "asset"]
