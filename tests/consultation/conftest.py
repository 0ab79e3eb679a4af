"""The consultation tests' fixtures (version, make_consultation) live in tests/conftest.py."""
