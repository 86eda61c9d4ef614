"""The one transaction and error boundary of every view: commit once, or roll back and say why.

Services flush and never commit; a view runs its change inside `transaction()` (or is
decorated with `atomic()`), which commits when the change succeeds and rolls back when a
business rule refuses it (a DomainError) or the database does (an IntegrityError, which is
raised again as ConcurrentChange: someone else's change of the same thing came first). The
view then shows the refusal as it should: a JSON body, a form message or a flash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError

from consular.extensions import db
from consular.services.errors import ConcurrentChange, DomainError

P = ParamSpec("P")
R = TypeVar("R")

Refusals = tuple[type[DomainError], ...]


def _commit() -> None:
    """Commit; a constraint that refuses the commit itself is a concurrent change too."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConcurrentChange() from error


@contextmanager
def transaction(*, commit_refused: Refusals = ()) -> Iterator[None]:
    """Commit the block's writes once; on any error roll them all back and raise it again.

    An IntegrityError is raised as ConcurrentChange. The refusals named in `commit_refused`
    keep what the service wrote before refusing (a wrong confirmation code must count as an
    attempt): they are committed, then raised like every other refusal.
    """
    try:
        yield
    except IntegrityError as error:
        db.session.rollback()
        raise ConcurrentChange() from error
    except DomainError as error:
        if isinstance(error, commit_refused):
            _commit()
        else:
            db.session.rollback()
        raise
    except BaseException:
        db.session.rollback()
        raise
    _commit()


def atomic(*, commit_refused: Refusals = ()) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a whole view in one `transaction()`; its refusals reach the blueprint's handler."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            with transaction(commit_refused=commit_refused):
                return view(*args, **kwargs)

        return wrapped

    return decorate


def refusal_text(error: DomainError) -> str:
    """A refusal as one sentence for a flash message: its field messages, or its message."""
    fields: dict[str, list[str]] | None = getattr(error, "fields", None)
    if fields:
        return " ".join(str(message) for messages in fields.values() for message in messages)
    return str(error.message)
