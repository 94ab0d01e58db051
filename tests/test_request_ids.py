"""Request ids the service makes: random UUIDs (version 4) as 32 hex digits."""

import uuid

from myapp.api.ids import uuid4_hex


def test_new_ids_are_uuid4_hex():
    ids = [uuid4_hex() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == value


def test_a_response_without_a_client_id_carries_a_new_one(client):
    response = client.get("/v1/foo/")
    assert uuid.UUID(hex=response.headers["X-Request-ID"]).version == 4
    assert response.headers.get_all("X-Request-ID") == [
        response.headers["X-Request-ID"]
    ]
