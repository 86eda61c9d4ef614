"""Password hashing for staff accounts: argon2id with the library's recommended parameters."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from consular.models import User

# Module-level so that the test suite can swap in a cheaper hasher of the same algorithm.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Check a password against the account's hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(user: User) -> bool:
    """Whether the account's hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(user.password_hash)
    except InvalidHashError:
        return True
