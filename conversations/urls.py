from django.urls import path

from . import history_views, views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("c/<uuid:conversation_id>/", views.chat, name="conversation"),
    path("c/<uuid:conversation_id>/earlier/", views.thread_earlier, name="thread-earlier"),
    path("c/<uuid:conversation_id>/action/", history_views.conversation_action,
         name="conversation-action"),
    path("c/<uuid:conversation_id>/export.<str:kind>", history_views.export_download,
         name="conversation-export"),
    path("export.<str:kind>", history_views.export_download, name="export-all"),
    path("search/", history_views.search_page, name="search"),
    path("archive/", history_views.archive_page, name="archive"),
    path("trash/", history_views.trash_page, name="trash"),
    path("trash/empty/", history_views.trash_empty, name="trash-empty"),
    path("trash/<uuid:conversation_id>/<str:action>/", history_views.trash_action,
         name="trash-action"),
    path("import/", history_views.import_page, name="import"),
]
