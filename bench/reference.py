"""What the two references (bare.py, fastapi_app.py) share: the service's storage.

The keys and the create script are the service's own (myapp/api/redis_model.py),
so the references read and write the records the bench seeds through the service.
"""

import base64
import json
from datetime import datetime, timezone

# REDIS_KEY_PREFIX (production's) + the bar kind.
PREFIX = "myapp:bar:"
# The contract's bound on totals: counted exactly up to this many records.
TOTAL_BOUND = 10_000
# Record and index change together; the index is scored by creation sequence.
CREATE_BAR = """
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
return seq
"""


def now():
    """Naive UTC, as the service stores it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def cursor(position):
    """A next page's cursor as a hand-written app makes one: its keyset position.

    URL-safe base64 of the position's JSON (the service also signs its cursors
    and binds them to the resource, sort and filters).
    """
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
