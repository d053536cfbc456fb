from django.urls import path

from . import views

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("<uuid:image_id>/file/", views.image_file, name="image-file"),
    path("<uuid:image_id>/thumbnail/", views.image_thumbnail, name="image-thumbnail"),
    path("<uuid:image_id>/delete/", views.delete, name="image-delete"),
    path("jobs/<uuid:job_id>/", views.job_state, name="image-job-state"),
]
