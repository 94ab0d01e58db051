"""Schemathesis hooks for tests/test_contract_fuzz.py (named in schemathesis.toml).

Swagger 2.0 has one ``produces`` list per operation and says that a response
without a ``schema`` returns no content. Schemathesis applies ``produces`` to
every response, so it would demand a Content-Type on a 204 or 304, which carry no
body (RFC 9110). This check replaces content_type_conformance: for a response
documented without content (no ``schema`` in Swagger 2.0, no ``content`` in
OpenAPI 3.1) it demands the stronger no body and no Content-Type, and for every
other response it runs content_type_conformance itself.
"""

import schemathesis
from schemathesis.specs.openapi.checks import content_type_conformance


class UnexpectedContent(AssertionError):
    """A response documented without a schema came with content."""


@schemathesis.check
def content_type_or_no_content(ctx, response, case):
    documented = case.operation.responses.find_by_status_code(response.status_code)
    if documented is not None and not (
        {"schema", "content"} & set(documented.definition)
    ):
        if response.content or "content-type" in response.headers:
            raise UnexpectedContent(
                f"{response.status_code} is documented without a schema, so with no"
                f" content, but it came with Content-Type"
                f" {response.headers.get('content-type')} and"
                f" {len(response.content)} bytes"
            )
        return None
    return content_type_conformance(ctx, response, case)
