"""The profile page's messenger links: make a one-time code, unlink an account."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .services.people import identity_unlink, link_code_create


@never_cache
@login_required
@require_POST
def link_code(request: HttpRequest) -> HttpResponse:
    _link, code = link_code_create(user=request.user)
    return render(request, "integrations/link_code.html",
                  {"code": code, "minutes": settings.CHATLAB_LINK_CODE_MINUTES})


@login_required
@require_POST
def unlink(request: HttpRequest, identity_id: int) -> HttpResponse:
    if not identity_unlink(user=request.user, identity_id=identity_id):
        raise Http404("No such messenger account")
    messages.success(request, _("The messenger account was unlinked."))
    return redirect("profile")
