"""Fixtures shared by the gateway's unit tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, profiles


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """argon2-cffi's cheapest profile (its own test profile): a real Argon2id hash in microseconds, not the production
    ~0.1–0.5 s. Whoever hashes or verifies in a test is handed this one; a hash made with production parameters still
    verifies with it, as each hash carries its own parameters."""
    return PasswordHasher.from_parameters(profiles.CHEAPEST)
