"""Each vendor answers under /sandbox/<protocol>/ at the paths its document gives, so
a vendor account's base URL in the app is {PUBLIC_BASE_URL}/sandbox/<protocol>."""

from django.urls import path

from . import views
from .protocols import PROTOCOLS

app_name = "sandbox"


def vendor_routes(vendor):
    where = {"protocol": vendor.name}
    # Specific addresses first: a vendor (fal) may take its model's path as a catch-all.
    routes = [
        path(
            f"{vendor.name}/{route}",
            getattr(views, view),
            where | extra,
            name=f"{vendor.name}-{name}",
        )
        for route, view, name, extra in vendor.extra_routes()
    ]
    if vendor.cancel_path and vendor.cancel_path == vendor.query_path:
        routes.append(
            path(
                f"{vendor.name}/{vendor.query_path}",
                views.task_endpoint,
                where,
                name=f"{vendor.name}-query",
            )
        )
        return [*routes, _create_route(vendor, where)]
    routes += [
        path(
            f"{vendor.name}/{vendor.query_path}",
            views.query_task,
            where,
            name=f"{vendor.name}-query",
        ),
    ]
    if vendor.cancel_path:
        routes.append(
            path(
                f"{vendor.name}/{vendor.cancel_path}",
                views.cancel_task,
                where,
                name=f"{vendor.name}-cancel",
            )
        )
    return [*routes, _create_route(vendor, where)]


def _create_route(vendor, where):
    return path(
        f"{vendor.name}/{vendor.create_path}",
        views.create_task,
        where,
        name=f"{vendor.name}-create",
    )


urlpatterns = [
    path("files/<slug:token>.mp4", views.output_file, name="file"),
    *(route for vendor in PROTOCOLS.values() for route in vendor_routes(vendor)),
]
