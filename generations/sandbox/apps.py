from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "generations.sandbox"
    label = "sandbox"
    verbose_name = "Vendor sandbox"
