"""Property-based contract testing: schemathesis against a live server, per spec.

For every feature's swagger.json (Swagger 2.0) and openapi.json (OpenAPI 3.1),
schemathesis generates valid and invalid
requests (coverage, fuzzing and stateful phases: POST then GET/PUT/PATCH/DELETE
through the Location header) and checks every answer: no server error, a
documented status, a documented content type, a body matching the documented
schema, the documented headers, invalid input rejected, valid input accepted,
405 for undocumented methods, 401 without the token. tests/schemathesis.toml
holds its settings and says why each one is there.

Bounded: MYAPP_FUZZ_EXAMPLES examples per operation (default 50) and a hard time
limit. The seed is fixed per SQL dialect, so a run is repeatable and the
PostgreSQL pass explores other inputs than the SQLite one; MYAPP_FUZZ_SEED
overrides it.
"""

import os
import re
import shlex
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from myapp import FEATURES

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "tests/schemathesis.toml"
EXAMPLES = int(os.environ.get("MYAPP_FUZZ_EXAMPLES", "50"))
TIME_LIMIT = 240  # seconds for one spec, far above a normal run (~20 s)


def _schemathesis():
    return str(Path(sys.executable).with_name("schemathesis"))


def _seed(database_url):
    if os.environ.get("MYAPP_FUZZ_SEED"):
        return int(os.environ["MYAPP_FUZZ_SEED"])
    return zlib.crc32(database_url.split(":", 1)[0].encode())


def _operation_count(spec):
    return sum(
        method in ("get", "put", "post", "delete", "patch", "head", "options")
        for path in spec["paths"].values()
        for method in path
    )


# Each feature's two documents, by the endpoint that serves them.
DOCUMENTS = {"swagger.json": "specs", "openapi.json": "openapi"}


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("feature", [blueprint.name for blueprint in FEATURES])
def test_spec_holds_under_fuzzing(live_server, database_url, feature, document):
    seed = _seed(database_url)
    arguments = ["--config-file", CONFIG, "run", "--max-examples", str(EXAMPLES)]
    arguments += ["--seed", str(seed), "--no-color"]
    url = live_server.page_url(f"{feature}.{DOCUMENTS[document]}")
    command = [_schemathesis(), *arguments, url]
    environment = {
        **os.environ,
        "MYAPP_FUZZ_TOKEN": live_server.token,
        "HYPOTHESIS_STORAGE_DIRECTORY": ".test-artifacts/hypothesis",
    }
    reproduce = (
        "Reproduce: start the service with a token, e.g.\n"
        "  MYAPP_API_TOKENS=t make run\n"
        "then, from the repository root:\n"
        f"  MYAPP_FUZZ_TOKEN=t venv/bin/schemathesis {shlex.join(arguments)}"
        f" http://127.0.0.1:5000/v1/{feature}/{document}\n"
        "or run this test again with the same seed:\n"
        f"  MYAPP_FUZZ_SEED={seed} MYAPP_FUZZ_EXAMPLES={EXAMPLES} venv/bin/pytest"
        f" '{Path(__file__).relative_to(ROOT)}::test_spec_holds_under_fuzzing"
        f"[{feature}-{document}]'\n"
        "(each failure above names its curl command against this test's server)."
    )
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout or b""
        pytest.fail(
            f"schemathesis took over {TIME_LIMIT}s on {feature}:\n"
            f"{output.decode(errors='replace')}\n{reproduce}"
        )
    print(result.stdout)
    assert result.returncode == 0, (
        f"schemathesis found problems in the {feature} spec (exit"
        f" {result.returncode}):\n{result.stdout}\n{result.stderr}\n{reproduce}"
    )
    spec = live_server.app.test_client().get(url).get_json()
    tested = re.search(r"^\s*Tested: (\d+)$", result.stdout, re.MULTILINE)
    assert tested and int(tested.group(1)) == _operation_count(spec), result.stdout
    # Links are followed from a 201's Location: none means no write was let in,
    # e.g. the token was not sent as the document's security scheme says.
    links = re.search(r"API Links: +(\d+) covered", result.stdout)
    assert links and int(links.group(1)) > 0, result.stdout
