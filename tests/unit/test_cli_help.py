"""Help text reads as prose at any terminal width (docstrings are hard-wrapped at ~92)."""

from __future__ import annotations

from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.cli._help import reflow


def test_reflow_joins_a_paragraphs_lines_and_keeps_paragraphs() -> None:
    assert reflow("one\ntwo\n\nthree\n  four") == "one two\n\nthree four"


def test_reflow_keeps_list_items_and_click_verbatim_paragraphs() -> None:
    assert reflow("Kinds:\n- a\n  more a\n- b") == "Kinds:\n- a more a\n- b"
    verbatim = "\b\nkeep\nthese"
    assert reflow(verbatim) == verbatim


def test_a_commands_description_is_not_broken_mid_sentence_at_80_columns() -> None:
    out = CliRunner().invoke(app, ["task", "submit", "--help"], env={"COLUMNS": "80"}).output
    description = out.split("Usage:", 1)[1].split("╭", 1)[0]
    paragraphs: list[list[str]] = [[]]
    for line in description.splitlines()[1:]:  # after the usage line
        if line.strip():
            paragraphs[-1].append(line)
        else:
            paragraphs.append([])
    # Every line of a paragraph but its last fills most of the width; a docstring's own
    # line breaks kept by the renderer leave stubs such as " e.g." or " --gateway".
    stubs = [line for p in paragraphs for line in p[:-1] if 0 < len(line.strip()) < 55]
    assert stubs == [], description
