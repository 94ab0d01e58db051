"""`make scale-test`: the service holds no state of its own, so it can run on
several machines (the stack: tests/scale/conftest.py).

Through nginx: what one instance writes the other reads; 16 clients racing with
one If-Match over both instances leave exactly one winner; rate limits are
counted across instances; a POST retried with its Idempotency-Key after its
server stopped mid-request creates one record; restarting instance A while a
load runs fails no request; /metrics stays private. The tests run in this
file's order and share the stack.
"""

import concurrent.futures
import secrets
import signal
import threading
import time
import urllib.parse

import pytest

from scripts.harness.client import location_path, request

from .stack import RATE_LIMIT
from .load import restart_under_load

pytestmark = pytest.mark.scale
# A client that gets no answer within this many seconds gives up and retries.
RETRY_CLIENT_TIMEOUT = 2.0
STORES = {"foo": "PostgreSQL", "bar": "Redis"}


def test_nginx_accepts_the_site_derived_from_deploy_nginx_conf(stack):
    assert stack.nginx.write_site(stack.site()), "nginx -t refused the site"


def test_nginx_spreads_requests_over_both_instances(stack):
    answers = [stack.call("GET", "/ready") for _ in range(6)]
    assert all(answer.status == 200 for answer in answers), answers
    assert {answer.upstream for answer in answers} == stack.sockets, answers


@pytest.mark.parametrize("feature", ["foo", "bar"])
def test_created_on_one_instance_is_read_and_changed_on_the_other(stack, feature):
    """Create through one instance, change through the other, read on both."""
    created = stack.create(feature, f"made on one {feature}")
    path = location_path(created, feature)
    stack.paths[feature] = path
    read = stack.answered_by_other(path, created.upstream)
    assert (
        created.status == 201
        and read.status == 200
        and read.upstream != created.upstream
        and read.json() == created.json()
        and read.headers.get("etag") == created.headers.get("etag")
    ), (
        f"{feature} created on one instance is not read on the other "
        f"({STORES[feature]}): created {created!r}, read {read!r}"
    )
    changed = stack.call(
        "PUT",
        path,
        {"name": f"changed on {stack.name_of(read.upstream)}"},
        {"If-Match": read.headers.get("etag", "")},
    )
    direct = [request(instance.http_port, "GET", path) for instance in stack.instances]
    assert (
        changed.status == 200
        and all(answer.status == 200 for answer in direct)
        and all(answer.json() == changed.json() for answer in direct)
        and {answer.headers.get("etag") for answer in direct}
        == {changed.headers.get("etag")}
    ), (
        f"{feature} changed on one instance does not read the same on both: "
        f"PUT {changed!r}, direct reads {direct!r}"
    )


@pytest.mark.parametrize("feature", ["foo", "bar"])
def test_a_cursor_made_by_one_instance_pages_on_the_other(stack, feature):
    """A next_cursor one instance made pages on the other (a shared key)."""
    for n in range(2):
        stack.create(feature, f"paged {n}")
    made_on, followed_on = stack.instances
    first = request(made_on.http_port, "GET", f"/v1/{feature}/?limit=1")
    cursor = (first.json() or {}).get("next_cursor")
    query = urllib.parse.urlencode({"cursor": cursor or "", "limit": 1})
    following = request(followed_on.http_port, "GET", f"/v1/{feature}/?{query}")
    body = following.json() or {}
    assert (
        first.status == 200
        and cursor
        and following.status == 200
        and len(body.get("items", ())) == 1
        and body["items"] != first.json()["items"]
    ), f"first {first!r}, following {following!r}"


@pytest.mark.parametrize("feature", ["foo", "bar"])
def test_racing_puts_with_one_if_match_leave_one_winner(stack, feature):
    """16 clients PUT with one If-Match at once, over both instances, 3 rounds:
    one 200 and 15 412 each, the winner stored."""
    clients, outcomes = 16, []
    for _ in range(3):
        created = stack.create(feature, "race start")
        path = location_path(created, feature)
        etag = created.headers.get("etag", "")
        barrier = threading.Barrier(clients)
        sources = [stack.addresses.take() for _ in range(clients)]

        def put(n):
            barrier.wait(30)
            body = {"name": f"writer {n}"}
            return stack.call("PUT", path, body, {"If-Match": etag}, sources[n])

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(put, range(clients)))
        winners = [n for n, answer in enumerate(answers) if answer.status == 200]
        outcomes.append(
            (
                created.status,
                sorted(answer.status for answer in answers),
                {answer.upstream for answer in answers},
                (stack.call("GET", path).json() or {}).get("name"),
                winners,
            )
        )
    assert all(
        created == 201
        and statuses == [200] + [412] * (clients - 1)
        and upstreams == stack.sockets
        and final == f"writer {winners[0]}"
        for created, statuses, upstreams, final, winners in outcomes
    ), outcomes


@pytest.fixture(scope="module")
def rate_limited(stack):
    """One client's budget spent across both instances, then some more."""
    client = stack.addresses.take()
    within = [stack.call("GET", "/v1/foo/", source=client) for _ in range(RATE_LIMIT)]
    # Until both instances refused (each nginx worker takes turns, so a few
    # requests are enough).
    over = []
    while len(over) < 6 and {answer.upstream for answer in over} != stack.sockets:
        over.append(stack.call("GET", "/v1/foo/", source=client))
    forged = stack.call(
        "GET", "/v1/foo/", headers={"X-Forwarded-For": "203.0.113.9"}, source=client
    )
    other = stack.call("GET", "/v1/foo/")
    return {"within": within, "over": over, "forged": forged, "other": other}


def test_rate_limit_the_first_requests_of_a_client_over_both_instances_pass(
    stack, rate_limited
):
    within = rate_limited["within"]
    assert (
        all(answer.status == 200 for answer in within)
        and {answer.upstream for answer in within} == stack.sockets
    ), f"{[answer.status for answer in within]} {within[-1]!r}"


def test_rate_limit_the_next_ones_get_429_with_retry_after_from_both_instances(
    stack, rate_limited
):
    over = rate_limited["over"]
    assert (
        all(
            answer.status == 429
            and answer.headers.get("content-type") == "application/problem+json"
            and (answer.json() or {}).get("status") == 429
            and answer.headers.get("retry-after", "").isdigit()
            and int(answer.headers["retry-after"]) > 0
            for answer in over
        )
        and {answer.upstream for answer in over} == stack.sockets
    ), over


def test_rate_limit_a_forged_x_forwarded_for_does_not_reset_the_count(rate_limited):
    """TRUSTED_PROXIES=0: nginx's X-Forwarded-For is not believed."""
    assert rate_limited["forged"].status == 429, rate_limited["forged"]


def test_rate_limit_another_client_is_not_limited(rate_limited):
    assert rate_limited["other"].status == 200, rate_limited["other"]


def test_rate_limit_counts_live_in_the_shared_redis_under_the_prefix(
    stack, rate_limited
):
    keys = stack.redis.keys("myapp:ratelimit*")
    assert keys, "no myapp:ratelimit* key in the shared Redis"


@pytest.mark.parametrize("feature", ["foo", "bar"])
def test_a_keyed_post_retried_after_its_server_stopped_makes_one_record(stack, feature):
    """Instance A is frozen (SIGSTOP: its socket still accepts, nobody answers),
    so a POST nginx hands it gets no answer and the client gives up after
    RETRY_CLIENT_TIMEOUT, as one whose create timed out would. It retries with
    the same Idempotency-Key until an answer comes (from B); then A resumes
    (SIGCONT) and handles the copies it was sent, and a last repeat, straight
    to A, must replay B's response."""
    instance, path, attempts = stack.instances[0], f"/v1/{feature}/", []
    stack.processes.signal(instance.name, signal.SIGSTOP)
    try:
        # Until nginx hands a first attempt to A (B answers the others).
        for _ in range(8):
            name = f"retried {feature} {secrets.token_hex(4)}"
            headers = {"Idempotency-Key": f"scale-{secrets.token_hex(8)}"}
            first = stack.call(
                "POST", path, {"name": name}, headers, timeout=RETRY_CLIENT_TIMEOUT
            )
            if not first.status:
                break
            if feature == "foo":
                stack.foo_created += first.status == 201
        attempts.append(first)
        # No answer (A has it) or 409 (in flight): retry, as a client would.
        while len(attempts) < 12 and attempts[-1].status in (0, 409):
            answer = stack.call(
                "POST", path, {"name": name}, headers, timeout=RETRY_CLIENT_TIMEOUT
            )
            attempts.append(answer)
            if answer.status == 409:
                time.sleep(int(answer.headers.get("retry-after", "1")))
    finally:
        stack.processes.signal(instance.name, signal.SIGCONT)
    instance.wait_ready()
    # The copies A was handed while frozen are handled once it runs again.
    time.sleep(1)
    direct = request(
        instance.http_port,
        "POST",
        path,
        {"name": name},
        {**headers, "Authorization": f"Bearer {stack.token}"},
    )
    created = attempts[-1]
    stored = stack.count_named(feature, name)
    if feature == "foo":
        stack.foo_created += stored
    assert (
        not attempts[0].status
        and created.status == 201
        and created.upstream == stack.instances[1].socket
        and direct.status == 201
        and direct.headers.get("idempotent-replayed") == "true"
        and direct.json() == created.json()
        and stored == 1
    ), (
        f"retried {len(attempts) - 1} times with the key: attempts {attempts}, "
        f"replay from A {direct!r}, {stored} stored"
    )


@pytest.fixture(scope="module")
def restart(stack):
    """Instance A restarted while requests flow through nginx (conftest: load)."""
    return restart_under_load(stack)


def test_during_the_load_a_was_taken_out_stopped_started_anew_and_put_back(restart):
    """Out of nginx, stopped as systemd does (SIGTERM), a new master, back."""
    steps, sent = restart.steps, restart.sent
    assert (
        "error" not in steps
        and "back" in steps
        and steps["pids"][1] is not None
        and steps["pids"][0] != steps["pids"][2]
        and min(sent) < steps["drain"]
        and max(sent) > steps["back"]
    ), steps


def test_while_a_was_out_every_request_went_to_b(stack, restart):
    out = restart.between("drained", "ready")
    strays = [answer for answer in out if answer.upstream != stack.instances[1].socket]
    assert out and not strays, f"{len(out)} requests while A was out: {strays[:5]}"


def test_no_request_through_nginx_failed_during_the_restart(restart):
    failures = restart.failures()
    assert (
        len(restart.results) >= restart.minimum and not failures
    ), f"{len(restart.results)} requests, {len(failures)} failed: {failures[:10]}"


def test_once_back_in_nginx_a_answers_again(stack, restart):
    back = restart.between("back", None)
    assert any(
        answer.upstream == stack.instances[0].socket for answer in back
    ), f"{len(back)} requests after A was put back, none answered by A"


def test_postgresql_holds_exactly_the_foos_created(stack, restart):
    """Every 201 made one foo: no write lost, none done twice by a retry."""
    stack.foo_created += restart.foos_created()
    total = (stack.call("GET", "/v1/foo/?limit=1").json() or {}).get("total")
    assert (
        total == stack.foo_created
    ), f"{total} foos stored, {stack.foo_created} created (201)"


def test_the_public_site_answers_metrics_404_even_with_the_token(stack):
    token = {"Authorization": f"Bearer {stack.metrics_token}"}
    public = request(stack.nginx_port, "GET", "/metrics", headers=token)
    assert (
        public.status == 404
        and public.headers.get("content-type") == "application/problem+json"
        and b"http_requests_total" not in public.body
    ), public


def test_the_loopback_server_serves_metrics_with_the_metrics_token_only(stack):
    token = {"Authorization": f"Bearer {stack.metrics_token}"}
    anonymous = request(stack.ready_port, "GET", "/metrics")
    scraped = request(stack.ready_port, "GET", "/metrics", headers=token)
    assert (
        anonymous.status == 401
        and scraped.status == 200
        and b"http_requests_total{" in scraped.body
    ), f"{anonymous} {scraped}"


def test_no_process_of_the_stack_died(stack):
    """Every server started is still running at the end."""
    dead = {
        name: process.returncode
        for name, process in stack.processes.running.items()
        if process.poll() is not None
    }
    assert not dead, dead
