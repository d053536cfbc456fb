"""The README lists every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "chatlab_site" / "settings").glob("*.py"))
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source))
    assert len(names) > 30
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"README lacks: {missing}"


def test_the_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1: lines.index("```sh") + 3]
    assert block[0].startswith("make run") and block[1].startswith("make test")


SKIPPED_DIRS = {"var", "staticfiles", "node_modules", "__pycache__", "htmlcov"}


def _layout() -> dict[str, str]:
    """The README's Layout block as {path: its description}, continuation lines included."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("\n## Layout\n", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    paths: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            for path in paths:
                entries[path] += " " + line.strip()
            continue
        head = re.match(r"((?:[\w./-]+/ ?)+)\s+(.*)", line)
        assert head, f"a Layout line names no folder: {line!r}"
        paths = head.group(1).split()
        for path in paths:
            entries[path] = head.group(2)
    return entries


def test_the_layout_names_every_top_level_folder_and_only_real_ones():
    layout = _layout()
    for path in layout:
        assert (ROOT / path).is_dir(), f"the README's Layout names {path}, which does not exist"
    folders = {p.name + "/" for p in ROOT.iterdir()
               if p.is_dir() and not p.name.startswith(".") and p.name not in SKIPPED_DIRS
               and not p.name.endswith(".egg-info")}
    missing = sorted(folders - set(layout))
    assert not missing, f"the README's Layout lacks: {missing}"


def test_the_layout_says_what_each_folder_holds_today():
    layout = _layout()
    for path, text in layout.items():
        assert not re.search(r"to come|planned|later|TODO", text, re.I), (path, text)
    # Every fake server in tests/fakes is named by the protocol it speaks.
    for fake in (ROOT / "tests" / "fakes").glob("*_server.py"):
        platform = fake.stem.removesuffix("_server")
        assert platform.lower() in layout["tests/"].lower(), f"tests/fakes/{fake.name}"
    # Every app's own services are named.
    for service in ("roles", "quotas", "guests", "tokens", "ensure_admin"):
        assert service in layout["accounts/"], service


def test_the_opening_list_has_no_planned_features():
    opening = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "planned" not in opening.lower() and "tracked as issues" not in opening.lower()
