"""Test code the features share, outside the service's runtime package.

``contract`` holds the contract test suite (``CrudContract``) that every feature's
test file runs against its own model, and the helpers the service-wide tests use.
"""
