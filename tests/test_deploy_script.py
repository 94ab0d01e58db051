"""deploy/deploy.sh's reading of the environment file (finding 8): a malformed
line is reported by its number only, since its text may be part of a secret."""

import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "deploy.sh"
SOURCED = 'source "$1" && load_env_file "$2" && env'
SECRET = "sk-9f8e7d6c5b4a-continued-secret"


def load_env_file(tmp_path, text):
    """Source deploy.sh (its functions only) and run load_env_file on ``text``."""
    env_file = tmp_path / "myapp.env"
    env_file.write_text(text)
    return subprocess.run(
        ["bash", "-c", SOURCED, "test", DEPLOY, env_file],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "text, line",
    [
        # A token wrapped onto a second line by an editor.
        (f"# tokens\nMYAPP_API_TOKENS=first-half\n{SECRET}\n", 3),
        # The same, where the wrapped part holds an "=".
        (f"MYAPP_API_TOKENS=first-half\n\n{SECRET}=tail\n", 3),
        (f"MYAPP_REDIS_URL=redis://x\n 9{SECRET}=value\n", 2),
    ],
)
def test_a_malformed_line_is_named_by_its_number_not_its_text(tmp_path, text, line):
    result = load_env_file(tmp_path, text)
    assert result.returncode != 0
    assert f"line {line}" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "first-half" not in result.stderr + result.stdout


def test_a_well_formed_file_is_exported(tmp_path):
    result = load_env_file(
        tmp_path,
        '# comment\n; comment\n\nMYAPP_A=one\n  MYAPP_B="two words"\n'
        "MYAPP_C='x=y'\nMYAPP_D=",
    )
    assert result.returncode == 0, result.stderr
    exported = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert exported["MYAPP_A"] == "one"
    assert exported["MYAPP_B"] == "two words"
    assert exported["MYAPP_C"] == "x=y"
    assert exported["MYAPP_D"] == ""
