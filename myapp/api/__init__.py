"""Shared API machinery: knows no feature; features and the factory import it."""
