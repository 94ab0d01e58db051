"""Bar: the Redis-backed resource."""

from ..api.redis_model import RedisModel


class BarModel(RedisModel):
    resource = "bar"
    fields = {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
    }
    required = ("name",)
