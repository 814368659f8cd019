"""Helpers shared by test modules (one home each; conftest.py files hold the fixtures)."""
