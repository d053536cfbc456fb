"""The translation catalogs under locale/: complete, compiled, in step with the code.

msgfmt (GNU gettext) checks them the way compilemessages does; without it these skip locally and
fail under CI=true.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import to_locale

from tests.conftest import require

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
UI_LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
DOMAINS = ("django", "djangojs")
CATALOGS = [(code, domain) for code in UI_LANGUAGES for domain in DOMAINS]
STATS = re.compile(r"(\d+) (translated|fuzzy|untranslated)")


def _msgfmt() -> str:
    path = shutil.which("msgfmt") or ("/usr/bin/msgfmt" if Path("/usr/bin/msgfmt").exists() else None)
    require(path is not None, "GNU gettext's msgfmt is needed to check the catalogs")
    return str(path)


def _po(code: str, domain: str, root: Path = LOCALE) -> Path:
    return root / to_locale(code) / "LC_MESSAGES" / f"{domain}.po"


def statistics(po: Path) -> dict[str, int]:
    done = subprocess.run([_msgfmt(), "--check", "--statistics", "-o", "/dev/null", str(po)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"{po}: {done.stderr}"
    counts = {"translated": 0, "fuzzy": 0, "untranslated": 0}
    for number, kind in STATS.findall(done.stderr):
        counts[kind] = int(number)
    return counts


def unfinished(po: Path) -> str:
    """The untranslated and fuzzy entries, as msgattrib prints them (for the failure message)."""
    msgattrib = Path(_msgfmt()).with_name("msgattrib")
    if not msgattrib.exists():
        return ""
    found = "".join(subprocess.run([str(msgattrib), flag, "--no-wrap", str(po)],
                                   capture_output=True, text=True).stdout
                    for flag in ("--untranslated", "--only-fuzzy"))
    return "; ".join(re.findall(r'^msgid "(.+)"$', found, re.M))[:4000]


@pytest.mark.parametrize(("code", "domain"), CATALOGS)
def test_every_ui_language_is_fully_translated(code: str, domain: str) -> None:
    po = _po(code, domain)
    assert po.exists(), f"{po} is missing: run make messages"
    counts = statistics(po)
    assert counts["translated"] > (100 if domain == "django" else 10)
    assert counts["fuzzy"] == 0 and counts["untranslated"] == 0, unfinished(po)


@pytest.mark.parametrize(("code", "domain"), CATALOGS)
def test_the_compiled_catalogs_match_their_po_files(code: str, domain: str, tmp_path: Path) -> None:
    po = _po(code, domain)
    fresh = tmp_path / "fresh.mo"
    subprocess.run([_msgfmt(), "--check", "-o", str(fresh), str(po)], check=True)
    committed = po.with_suffix(".mo")
    assert committed.exists(), f"{committed} is missing: run make messages"
    with committed.open("rb") as f:
        ours = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    with fresh.open("rb") as f:
        theirs = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    stale = sorted(str(k) for k in set(ours) ^ set(theirs) | {k for k in ours if ours[k] != theirs.get(k)})
    assert not stale, f"{committed} is out of date with {po.name} (make messages): {stale[:5]}"


def test_every_marked_string_in_the_code_is_in_the_catalogs(tmp_path: Path) -> None:
    """makemessages over a copy of the tree, with the options of `make messages`: a string marked
    in the code (Python, templates, static/chat) but missing from a .po file shows up there as
    untranslated, and fails here."""
    _msgfmt()
    copy = tmp_path / "tree"
    skip = shutil.ignore_patterns(".git", ".venv", "var", "staticfiles", "node_modules",
                                  "__pycache__", "*.mo", ".pytest_cache")
    shutil.copytree(ROOT, copy, ignore=skip, symlinks=True)
    options = _makefile_options()
    for domain in DOMAINS:
        command = [sys.executable, "manage.py", "makemessages", "-d", domain, *options,
                   *(f"-l{to_locale(code)}" for code in UI_LANGUAGES)]
        done = subprocess.run(command, cwd=copy, capture_output=True, text=True,
                              env={**_clean_env(), "CHATLAB_DATA_DIR": str(tmp_path / "data")})
        assert done.returncode == 0, done.stderr
    problems = {}
    for code, domain in CATALOGS:
        po = _po(code, domain, copy / "locale")
        counts = statistics(po)
        if counts["fuzzy"] or counts["untranslated"]:
            problems[f"{code}/{domain}"] = unfinished(po) or counts
    assert not problems, (
        "strings marked in the code but not translated (run make messages, translate them): "
        f"{problems}"
    )


def _makefile_options() -> list[str]:
    """The makemessages options `make messages` uses, read from the Makefile so the two agree."""
    makefile = (ROOT / "Makefile").read_text()
    ignore = re.search(r"^MESSAGES_IGNORE := (.*?)(?<!\\)$", makefile, re.M | re.S)
    assert ignore, "the Makefile's MESSAGES_IGNORE is gone"
    patterns = re.findall(r"--ignore=('?)([^'\s\\]+)\1", ignore.group(1))
    return ["--no-obsolete", "--add-location=file", *(f"--ignore={p}" for _q, p in patterns)]


def _clean_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def test_a_missing_translation_falls_back_to_english() -> None:
    with translation.override("ru"):
        # Not in any catalog: the English source text, never an empty string.
        assert translation.gettext("A sentence nobody has translated yet.") == (
            "A sentence nobody has translated yet."
        )
        assert translation.gettext("Write something first.") == "Сначала напишите что-нибудь."
    # A language the site does not offer is served in the site's default, English.
    with translation.override("pt"):
        assert translation.gettext("Write something first.") == "Write something first."


@pytest.mark.parametrize("code", UI_LANGUAGES)
def test_no_compiled_entry_is_empty(code: str) -> None:
    for domain in DOMAINS:
        with _po(code, domain).with_suffix(".mo").open("rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        empty = [key for key, value in catalog.items() if key and not value]
        assert not empty, f"{code}/{domain}: empty translations {empty[:5]}"
