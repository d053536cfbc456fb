from __future__ import annotations

from typing import Any

from django.db import models

from chatlab_site import crypto


class EncryptedTextField(models.TextField):
    """Keeps its value encrypted in the database; Python code sees the plain text.

    A value that can no longer be decrypted reads as empty rather than breaking every page that
    loads the row; the admin shows such a secret as "not set" so an operator re-enters it.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        if not value:
            return ""
        try:
            return crypto.decrypt(value)
        except crypto.DecryptionError:
            return ""

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        return crypto.encrypt(value) if value else ""
