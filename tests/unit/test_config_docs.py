"""docs/lxc.container.conf.md lists every key of the table (it is generated from it)."""

from __future__ import annotations

import os

from lxcz.config import keys as K
from lxcz.config import reference

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "lxc.container.conf.md")


def _strip_applied(text: str) -> list:
    # other work flips the Applied column; the rest must match the table exactly
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = line.split(" | ")
            rows.append(cells[:2] + cells[3:])
        else:
            rows.append(line)
    return rows


def test_doc_matches_table():
    with open(DOC) as f:
        text = f.read()
    assert _strip_applied(text) == _strip_applied(reference.markdown()), (
        "regenerate: python3 -m lxcz.config.reference > docs/lxc.container.conf.md")


def test_every_key_documented():
    text = reference.markdown()
    for row in K.ROWS:
        assert f"| `{row.name}{'*' if row.is_prefix else ''}` |" in text
    for row in K.NET_KEYS:
        assert f"| `lxc.net.N.{row.name}` |" in text
