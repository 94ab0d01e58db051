"""What differs between the environments.

Every setting of the service, with its default and its parser, is a row of
``myapp.settings.SETTINGS``; a class here only overrides some of them (and
Flask's own options) for one environment. The factory loads the defaults, one of
these classes (production unless ``MYAPP_ENV`` says otherwise), then
``instance/config.py``, then every ``MYAPP_*`` environment variable.
"""


class Config:
    DEBUG = False
    TESTING = False
    RESTX_ERROR_404_HELP = False


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    DEBUG = True
    CORS_ORIGINS = ["*"]


class TestingConfig(Config):
    TESTING = True
    ACCESS_LOG = False


CONFIGS = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}
