"""The profile page: role, today's usage and what is left, API tokens, deleting the account."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .models import ApiToken, Role
from .roles import policy_for
from .services.accounts import account_delete
from .services.quotas import allowance_for
from .services.tokens import api_token_create, api_token_revoke


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Token name"), max_length=100)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(label=gettext_lazy("Your password"), widget=forms.PasswordInput)

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):  # type: ignore[attr-defined]
            raise forms.ValidationError(_("That is not your password."))
        return password


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    new_token = None
    form = TokenForm()
    policy = policy_for(request.user)
    if request.method == "POST":
        form = TokenForm(request.POST)
        if policy is not None and not policy.api_access:
            messages.error(request, _("Your role does not include API access."))
        elif form.is_valid():
            _token, new_token = api_token_create(user=request.user, name=form.cleaned_data["name"])
            form = TokenForm()
    allowance = allowance_for(request.user, policy=policy, with_images=True)
    context = {
        "allowance": allowance,
        # The role's name in the page's language ("user" is "пользователь" in Russian).
        "role_label": Role(allowance.role).label if allowance.role in Role.values else allowance.role,
        "policy": policy,
        "tokens": ApiToken.objects.filter(user=request.user, revoked_at__isnull=True),
        "form": form,
        "new_token": new_token,
    }
    return render(request, "accounts/profile.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token")
    messages.success(request, _("The token was revoked."))
    return redirect("profile")


@login_required
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        account_delete(user=user)
        messages.success(request, _("Your account and everything in it were deleted."))
        return redirect("account_login")
    return render(request, "accounts/delete.html", {"form": form})
