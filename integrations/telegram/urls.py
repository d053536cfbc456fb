from django.urls import path

from . import views

urlpatterns = [
    path("<int:integration_id>/", views.webhook, name="telegram_webhook"),
]
