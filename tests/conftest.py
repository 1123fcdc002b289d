"""Shared pytest setup: every test runs with its own MODELSHELF_HOME and no real keys."""

pytest_plugins = ["fakes.fixtures"]
