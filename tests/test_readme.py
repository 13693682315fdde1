"""The README's quick start and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def quick_start_commands(readme: str) -> list[str]:
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (python3 -m venv .+)$", section, re.MULTILINE)


def test_ci_runs_the_readme_test_command():
    commands = quick_start_commands((REPOSITORY / "README.md").read_text(encoding="utf-8"))
    test_command = next(command for command in commands if "pytest" in command)
    ci_lines = (REPOSITORY / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_both_readmes_give_the_same_commands():
    english = quick_start_commands((REPOSITORY / "README.md").read_text(encoding="utf-8"))
    chinese_text = (REPOSITORY / "README.zh-CN.md").read_text(encoding="utf-8")
    chinese = re.findall(r"^    (python3 -m venv .+)$", chinese_text, re.MULTILINE)
    assert len(english) == 2
    assert chinese == english
