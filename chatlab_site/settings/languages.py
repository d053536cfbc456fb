"""Interface languages and translated bot fields (django-modeltranslation).

LANGUAGES and LOCALE_PATHS live in base.py next to LANGUAGE_CODE; this module checks that the
site's default is one of them and makes it the language every missing translation falls back to.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import LANGUAGE_CODE, LANGUAGES

_CODES = tuple(code for code, _name in LANGUAGES)
if LANGUAGE_CODE not in _CODES:
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(_CODES)}, not {LANGUAGE_CODE!r}")

MODELTRANSLATION_LANGUAGES = _CODES
MODELTRANSLATION_DEFAULT_LANGUAGE = LANGUAGE_CODE
# A bot's name, description, prompt or welcome text missing in one language is shown in the
# site's default language, then in English: never empty while any of those has it.
MODELTRANSLATION_FALLBACK_LANGUAGES = tuple(dict.fromkeys((LANGUAGE_CODE, "en")))
# A bot made in code while another language is active (Bot(name=...)) still gets its text in
# the default language, which every other language falls back to.
MODELTRANSLATION_AUTO_POPULATE = "default"
# The admin's translation fields follow the language order above.
MODELTRANSLATION_PREPOPULATE_LANGUAGE = LANGUAGE_CODE
# The language cookie lives a year, like Django's default, and is readable by the socket.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
# The admin's language tabs need jQuery UI, which django-modeltranslation loads from a CDN unless
# told otherwise: without internet (or under the CSP) the tabs broke into stacked, unlabelled
# fields. Both are served from here: Django admin's own jQuery and the vendored jQuery UI.
JQUERY_URL = "admin/js/vendor/jquery/jquery.min.js"
JQUERY_UI_URL = "vendor/jquery-ui.min.js"
