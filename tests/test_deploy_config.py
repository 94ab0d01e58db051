"""The shipped deploy files keep the review's findings 9, 10 and 11 closed."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from myapp.settings import BY_NAME

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "myapp.service"
README = ROOT / "README.md"
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
MAX_EXPOSURE = 2.0


def unit_values(name):
    return re.findall(rf"^{name}=(.*)$", UNIT.read_text(), flags=re.M)


def readme_section(title):
    text = README.read_text()
    start = text.index(f"### {title}")
    end = text.find("\n### ", start + 1)
    return text[start:end]


def test_the_service_has_its_own_group_and_www_data_only_owns_the_socket():
    """Finding 9: Group=www-data let nginx's workers read the service's secrets."""
    assert unit_values("User") == ["myapp"]
    assert unit_values("Group") == ["myapp"]
    assert not unit_values("SupplementaryGroups")
    assert any(
        re.search(r"-g www-data .*/run/myapp$", line)
        for line in unit_values("ExecStartPre")
    )
    setup = readme_section("First-time server set-up")
    assert "adduser --system --group --no-create-home myapp" in setup
    assert "chgrp www-data" not in README.read_text()
    assert "chgrp myapp" in setup


def test_the_unit_is_hardened_to_an_exposure_of_at_most_2():
    """Finding 10: `systemd-analyze security` said 6.7 MEDIUM."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing: `make check-deploy` installs it")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_deploy_secrets_live_in_the_production_environment_only():
    """Finding 11: the README offered repository secrets, which a pull request's
    edited workflow can read; environment secrets only reach jobs of the
    environment, on the branches it allows, after its reviewers approve."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    for name, job in workflow["jobs"].items():
        uses_secrets = "secrets." in yaml.safe_dump(job)
        if uses_secrets:
            assert job.get("environment") == "production", name
            assert "refs/heads/master" in job.get("if", ""), name
            assert "github.event_name == 'push'" in job.get("if", ""), name
    section = readme_section("The GitHub secrets")
    assert "Secrets and variables, Actions (or" not in section
    for required in (
        "`production` environment",
        "Deployment branches",
        "`master`",
        "Required reviewers",
        "never as repository",
    ):
        assert required in section, required


def nginx_directive(name):
    site = (ROOT / "deploy" / "nginx-myapp.conf").read_text()
    return re.findall(rf"^\s*{name}\s+([^;]+);", site, flags=re.M)


def size(text):
    units = {"k": 1024, "m": 1024 * 1024}
    text = text.strip().lower()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def test_nginx_and_uwsgi_limits_agree_with_the_app():
    """Finding 3: nginx's body limit is the app's; what nginx accepts fits uWSGI.

    A uwsgi packet holds each header as 2 + 5 ("HTTP_") + name + 2 + value bytes,
    at most 10 bytes for the 3 of the shortest line nginx takes ("a:" and LF); a
    byte of the URI costs at most 2 (REQUEST_URI, and PATH_INFO or QUERY_STRING),
    so the worst request is all short headers. tests/test_front_proxy.py sends it.
    """
    assert nginx_directive("client_max_body_size") == ["1m"]
    assert size("1m") == BY_NAME["MAX_CONTENT_LENGTH"].default
    (first,) = nginx_directive("client_header_buffer_size")
    (large,) = nginx_directive("large_client_header_buffers")
    count, each = large.split()
    accepted = size(first) + int(count) * size(each)
    ini = (ROOT / "myapp.ini").read_text()
    buffer_size = int(re.search(r"^buffer-size = (\d+)$", ini, flags=re.M).group(1))
    assert buffer_size <= 65535, "a uwsgi packet's size has 16 bits"
    worst_case = accepted * 10 // 3 + 1024  # and nginx's own parameters
    assert worst_case <= buffer_size, (worst_case, buffer_size)
