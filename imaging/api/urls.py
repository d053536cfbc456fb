from django.urls import path

from . import views

urlpatterns = [
    path("images/", views.ImageList.as_view(), name="api-images"),
    path("images/models/", views.ImageModelList.as_view(), name="api-image-models"),
    path("images/jobs/", views.ImageJobList.as_view(), name="api-image-jobs"),
    path("images/jobs/<uuid:job_id>/", views.ImageJobDetail.as_view(), name="api-image-job"),
    path("images/<uuid:image_id>/", views.ImageDetail.as_view(), name="api-image"),
    path("images/<uuid:image_id>/file/", views.ImageFile.as_view(), name="api-image-file"),
]
