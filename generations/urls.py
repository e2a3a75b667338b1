from django.urls import path

from generations import hooks
from generations.operators import attention_views, vendor_views
from generations.studio.views import gallery, generate, jobs, projects, storyboard

urlpatterns = [
    path("hooks/<uuid:uuid>/<str:token>/", hooks.vendor_callback, name="vendor_callback"),
    # Generate
    path("generate/", generate.generate, name="generate"),
    path("generate/quote/", generate.generate_quote, name="generate_quote"),
    # Jobs
    path("jobs/", jobs.jobs, name="jobs"),
    path("jobs/in-flight/", jobs.jobs_in_flight, name="jobs_in_flight"),
    path("jobs/<uuid:uuid>/", jobs.job, name="job"),
    path("jobs/<uuid:uuid>/card/", jobs.job_card, name="job_card"),
    path("jobs/<uuid:uuid>/timeline/", jobs.job_timeline, name="job_timeline"),
    path("jobs/<uuid:uuid>/cancel/", jobs.cancel_job, name="cancel_job"),
    # Gallery and clips (a clip's public id is its generation's)
    path("gallery/", gallery.gallery, name="gallery"),
    path("clips/<uuid:uuid>/", gallery.clip, name="clip"),
    path("clips/<uuid:uuid>/video.mp4", gallery.clip_video, name="clip_video"),
    path("clips/<uuid:uuid>/poster.jpg", gallery.clip_poster, name="clip_poster"),
    path("clips/<uuid:uuid>/favourite/", gallery.favourite, name="favourite"),
    # Projects, scenes, storyboards
    path("projects/", projects.projects, name="projects"),
    path("projects/<uuid:uuid>/", projects.project, name="project"),
    path("projects/<uuid:uuid>/cap/", projects.set_project_cap, name="set_project_cap"),
    path("projects/<uuid:uuid>/scenes/", projects.create_scene, name="create_scene"),
    path("projects/<uuid:uuid>/storyboard/", storyboard.storyboard, name="storyboard"),
    path("projects/<uuid:uuid>/storyboard.zip", storyboard.storyboard_zip, name="storyboard_zip"),
    path(
        "projects/<uuid:uuid>/storyboard/export/",
        storyboard.storyboard_export,
        name="storyboard_export",
    ),
    path(
        "projects/<uuid:uuid>/storyboard/export/status/",
        storyboard.storyboard_export_status,
        name="storyboard_export_status",
    ),
    path("projects/<uuid:uuid>/storyboard.mp4", storyboard.storyboard_mp4, name="storyboard_mp4"),
    path("scenes/<uuid:uuid>/edit/", projects.edit_scene, name="edit_scene"),
    path("scenes/<uuid:uuid>/take/", projects.choose_take, name="choose_take"),
    # Vendor accounts (operators)
    path("vendors/", vendor_views.vendors, name="vendors"),
    path("vendors/add/", vendor_views.add_vendor, name="vendor_add"),
    path("vendors/<uuid:uuid>/", vendor_views.edit_vendor, name="vendor_edit"),
    path("vendors/<uuid:uuid>/enabled/", vendor_views.toggle_vendor, name="vendor_toggle"),
    path("vendors/<uuid:uuid>/test/", vendor_views.test_vendor, name="vendor_test"),
    # Jobs that need a person (operators)
    path("attention/", attention_views.needs_attention, name="needs_attention"),
    path("attention/<uuid:uuid>/", attention_views.needs_attention_job, name="needs_attention_job"),
    path("attention/<uuid:uuid>/fail/", attention_views.settle_failed, name="settle_failed"),
    path("attention/<uuid:uuid>/attach/", attention_views.settle_attach, name="settle_attach"),
    path(
        "attention/<uuid:uuid>/finished/", attention_views.settle_finished, name="settle_finished"
    ),
]
