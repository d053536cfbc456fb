"""`chatlab` history commands against a running daphne: import with a progress line, search
with highlights, rename, pin, archive, delete to the trash and restore, export everything."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import Site, site  # noqa: F401  (the module's running server)
from tests.test_history_io import chatgpt_sample


def test_import_search_rename_pin_archive_trash_restore(site: Site, tmp_path: Path) -> None:  # noqa: F811
    sample = tmp_path / "conversations.json"
    sample.write_bytes(chatgpt_sample())
    done = site.run("import", str(sample))
    assert done.returncode == 0, done.stderr
    assert "Importing conversations.json: 2/2 conversations (done)" in done.stderr
    assert "Imported 2 conversation(s)." in done.stdout

    found = site.run("search", "Suppe")
    assert found.returncode == 0 and "Suppe kochen" in found.stdout
    cid = found.stdout.split("Suppe kochen")[0].split()[-1]
    assert "<mark>" not in found.stdout and "<script>" not in found.stdout

    renamed = site.run("rename", cid, "Soup", "at", "home")
    assert renamed.returncode == 0 and "Soup at home" in renamed.stdout
    assert "(pinned)" in site.run("pin", cid).stdout
    assert "📌 Soup at home" in site.run("history").stdout
    assert "archived" in site.run("archive", cid).stdout
    assert "(archived)" in site.run("history").stdout

    assert site.run("delete", cid).returncode == 0
    assert "Soup at home" not in site.run("history").stdout
    assert "Soup at home" in site.run("trash").stdout
    assert site.run("restore", cid).returncode == 0
    assert "Soup at home" in site.run("history").stdout

    everything = json.loads(site.run("export-all", "--json").stdout)
    assert everything["format"] == "chatlab" and everything["version"] == 1
    again = tmp_path / "chatlab.json"
    again.write_text(json.dumps(everything))
    assert "Imported" in site.run("import", str(again)).stdout


def test_a_refused_import_is_one_line(site: Site, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "chatlab", "version": 1, "conversations": [')
    done = site.run("import", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("chatlab: The import was refused: ")
    assert "Traceback" not in done.stderr
    missing = site.run("import", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert site.run("restore", "00000000-0000-0000-0000-000000000000").returncode == 1


def test_edit_in_a_chat_keeps_the_earlier_version(site: Site) -> None:  # noqa: F811
    import pexpect

    from tests.test_cli import CHATLAB, PROMPT, shown

    child = pexpect.spawn(CHATLAB, ["chat"], env=site.env(), encoding="utf-8", timeout=30,
                          dimensions=(40, 120))
    child.expect(PROMPT)
    child.sendline("/edit too early")
    child.expect("nothing sent in this session to edit")
    child.expect(PROMPT)
    child.sendline("first wording of the question")
    child.expect(shown("def", "greet"))
    child.expect(PROMPT)
    child.sendline("/edit second wording of the question")
    child.expect(shown("second", "wording"))
    child.expect(shown("def", "greet"))
    child.expect(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    rows = site.stack.shell(
        "from conversations.models import Message\n"
        "m = Message.objects.filter(content__endswith='wording of the question')"
        ".order_by('created_at')\n"
        "print([(x.content.split()[0], x.superseded_at is not None, str(x.replaces_id or '')[:4])"
        " for x in m])"
    ).strip().splitlines()[-1]
    assert rows.startswith("[('first', True, ''), ('second', False, '")
