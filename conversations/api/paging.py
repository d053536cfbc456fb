"""Pages without a total, for lists that grow with a person's history (issue #20)."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from conversations.services.errors import ChatError


class MorePages(PageNumberPagination):
    """`?page=N` as before, but counting every conversation, or every match of a search, costs
    as much again as the page itself: one row past the page tells whether there is a `next`
    one, and `count` is left out. A page that is not a number, or past the end, is a 404."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        page = request.query_params.get(self.page_query_param) or "1"
        if not page.isdigit() or int(page) < 1:
            raise ChatError("not_found", "Invalid page.", status=404)
        self.request, self.number = request, int(page)
        size = self.get_page_size(request) or 20
        rows = list(queryset[(self.number - 1) * size:self.number * size + 1])
        if not rows and self.number > 1:
            raise ChatError("not_found", "Invalid page.", status=404)
        self.has_more = len(rows) > size
        return rows[:size]

    def get_next_link(self) -> str | None:
        if not self.has_more:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param,
                                   self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number == 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(),
                         "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paged = super().get_paginated_response_schema(schema)
        paged["properties"].pop("count", None)
        paged["required"] = [name for name in paged.get("required", []) if name != "count"]
        return paged
