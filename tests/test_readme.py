"""README.md must open with the two set-up commands, and CI must run the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_readme_opens_with_quickstart_and_test_commands() -> None:
    commands = _readme_commands()
    assert len(commands) >= 2
    quickstart, tests = commands[0], commands[1]
    assert "hebbsearch run studies/quickstart.toml" in quickstart
    assert (ROOT / "studies" / "quickstart.toml").is_file()
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    readme_test = _readme_commands()[1].split("&&")[-1].strip()
    test_command = readme_test.split("=", 1)[1].split(" ", 1)[1] if "=" in readme_test.split()[0] else readme_test
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
