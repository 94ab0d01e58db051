"""The settings table owns every setting: parser, default, refusal, README row."""

import re
from pathlib import Path

import pytest

import default_config
from myapp import create_app
from myapp.settings import (
    BY_NAME,
    FRAMEWORK_SETTINGS,
    SETTINGS,
    ConfigError,
    readme_table,
)

README = Path(__file__).resolve().parent.parent / "README.md"

# For each setting, values it must refuse (a new row needs its own here).
BAD_VALUES = {
    "SQLALCHEMY_DATABASE_URI": ["not a url", ["sqlite://"]],
    "SQLALCHEMY_ENGINE_OPTIONS": ["pool_size=5", ["pool_size"]],
    "SQL_CONNECT_TIMEOUT": ["0", "-1", "soon", 1.5, True],
    "SQL_STATEMENT_TIMEOUT": ["-1", "ten", "nan", "inf", True],
    "SQL_LOCK_TIMEOUT": ["0", "-2", "", False],
    "REDIS_URL": ["localhost:6379", "http://redis", 6379],
    "REDIS_KEY_PREFIX": [["a"], {"a": 1}, True],
    "REDIS_SOCKET_CONNECT_TIMEOUT": ["0", "fast"],
    "REDIS_SOCKET_TIMEOUT": ["-1", [1]],
    "STORE_RETRY_AFTER": ["0", "5s", 2.5],
    "IDEMPOTENCY_KEY_TTL": ["0", "-1", "a day"],
    "IDEMPOTENCY_LOCK_TTL": ["0", 1.5],
    "API_TOKENS": [[""], ["t1", ""], "t1,,t2", 123456789, [7], "t 1", "tö"],
    "AUTH_DISABLED": ["maybe", "2", ["true"]],
    "CORS_ORIGINS": [["https://a.example", 3], "https://a.example,,", 1],
    "MAX_CONTENT_LENGTH": ["0", "1MB", "-5", 1.5],
    "RATELIMIT_DEFAULT": ["lots", "5 per fortnight", 100],
    "TRUSTED_PROXIES": ["-1", "two", True],
    "ACCESS_LOG": ["sometimes"],
    "CURSOR_SECRET": [["a"], {"k": 1}, True],
    "METRICS_TOKEN": ["", " with space ", 42, ["t"]],
    "METRICS_ENABLED": ["perhaps"],
    "OTLP_ENDPOINT": ["127.0.0.1:4318", "ftp://collector", 4318],
}


def config_class_settings():
    names = set()
    for cls in default_config.CONFIGS.values():
        for klass in cls.__mro__:
            names |= {name for name in vars(klass) if name.isupper()}
    return names


def test_every_setting_a_config_class_sets_is_a_row_of_the_table():
    unknown = config_class_settings() - set(BY_NAME) - FRAMEWORK_SETTINGS
    assert not unknown, f"add a row to myapp.settings.SETTINGS for {sorted(unknown)}"


def test_every_row_has_a_parser_and_says_what_a_good_value_is():
    assert len(BY_NAME) == len(SETTINGS), "a setting is listed twice"
    for setting in SETTINGS:
        assert callable(setting.parse), setting.name
        assert setting.expects and setting.meaning and setting.shown_default
        assert setting.typed(setting.default) == setting.default or (
            setting.default is None
        ), f"{setting.name}: its default does not parse as itself"


def test_the_readme_table_is_the_settings_table():
    text = README.read_text()
    start = text.index("| setting | default | meaning |")
    end = text.index("\n\n", start)
    expected = "\n".join(readme_table())
    assert text[start:end] == expected, (
        "README.md's settings table differs from myapp.settings.SETTINGS; it should"
        f" read:\n{expected}"
    )


def test_every_row_has_values_it_refuses():
    assert set(BAD_VALUES) == set(BY_NAME)


@pytest.mark.parametrize(
    "name, value",
    [(name, value) for name, values in BAD_VALUES.items() for value in values],
)
def test_a_bad_value_stops_the_start_with_one_line_naming_the_setting(
    store_config, name, value
):
    with pytest.raises(ConfigError) as raised:
        create_app({**store_config, name: value})
    message = str(raised.value)
    assert message.startswith(f"{name} (MYAPP_{name}) must be "), message
    assert "\n" not in message
    if BY_NAME[name].secret:
        assert repr(value) not in message


def test_secret_values_are_never_repeated(store_config):
    url = "postgresql+psycopg://myapp:hunter2-password@/db?host=/x&&&"
    for name, value in [
        ("API_TOKENS", ["good-token", "bad token with spaces"]),
        ("SQLALCHEMY_DATABASE_URI", "::" + url),
    ]:
        with pytest.raises(ConfigError) as raised:
            create_app({**store_config, name: value})
        assert "bad token" not in str(raised.value)
        assert "hunter2" not in str(raised.value)


def test_environment_values_are_typed_by_their_parser(make_app, monkeypatch):
    variables = {
        "MYAPP_TRUSTED_PROXIES": "2",
        "MYAPP_SQL_LOCK_TIMEOUT": "0.25",
        "MYAPP_API_TOKENS": " t1 , t2 ",
        "MYAPP_ACCESS_LOG": "off",
        "MYAPP_CORS_ORIGINS": "https://a.example, https://b.example",
        "MYAPP_MAX_CONTENT_LENGTH": "2048",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    config = make_app().config
    assert config["TRUSTED_PROXIES"] == 2
    assert config["SQL_LOCK_TIMEOUT"] == 0.25
    assert config["API_TOKENS"] == ["t1", "t2"]
    assert config["ACCESS_LOG"] is False
    assert config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert config["MAX_CONTENT_LENGTH"] == 2048


def test_the_readme_names_no_setting_the_table_lacks():
    """Settings named in the README's configuration section exist."""
    text = README.read_text()
    section = text[text.index("## Configuration") : text.index("## Security")]
    named = set(re.findall(r"MYAPP_([A-Z_]+)", section)) - {"ENV"}
    assert named <= set(BY_NAME), sorted(named - set(BY_NAME))
