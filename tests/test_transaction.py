"""The views' transaction boundary: one commit on success, nothing kept from a refusal
(unless the view says so), and a database refusal turned into ConcurrentChange."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Office
from consular.services.errors import ConcurrentChange, InvalidState, WrongCode
from consular.transaction import atomic, refusal_text, transaction


def _name_in_database(office_id: int) -> dict:
    """The office's name as stored, read past the session's copy."""
    db.session.expire_all()
    return db.session.scalar(sa.select(Office.name).where(Office.id == office_id))


def collide() -> None:
    """Write a row that a unique constraint refuses, as a concurrent change would."""
    taken = db.session.scalars(sa.select(Office.code)).first()
    db.session.add(Office(code=taken, reference_prefix="ZZZ", name={}, timezone="Asia/Seoul"))
    db.session.flush()


def test_the_block_is_committed_once_it_succeeds(make_office) -> None:
    office = make_office(generate=False)
    with transaction():
        office.name = {"en": "Renamed"}
    db.session.rollback()  # nothing is left pending: the write is already stored
    assert _name_in_database(office.id) == {"en": "Renamed"}


def test_a_refusal_rolls_back_what_was_written_before_it(make_office) -> None:
    office = make_office(generate=False)
    before = dict(office.name)
    with pytest.raises(InvalidState), transaction():
        office.name = {"en": "Half-written"}
        db.session.flush()
        raise InvalidState("refused")
    assert _name_in_database(office.id) == before


def test_a_refusal_named_by_the_view_keeps_its_writes(make_office) -> None:
    office = make_office(generate=False)
    with pytest.raises(WrongCode), transaction(commit_refused=(WrongCode,)):
        office.name = {"en": "Attempt counted"}
        raise WrongCode("wrong", attempts_left=4)
    db.session.rollback()
    assert _name_in_database(office.id) == {"en": "Attempt counted"}


def test_an_integrity_error_is_a_concurrent_change_and_nothing_stays(make_office) -> None:
    office = make_office(generate=False)
    before = dict(office.name)
    with pytest.raises(ConcurrentChange) as raised, transaction():
        office.name = {"en": "Half-written"}
        collide()
    assert raised.value.http_status == 409
    assert _name_in_database(office.id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Office)) == 1


def test_an_integrity_error_at_commit_is_a_concurrent_change_too(make_office) -> None:
    office = make_office(generate=False)
    with pytest.raises(ConcurrentChange), transaction():
        db.session.add(
            Office(code=office.code, reference_prefix="ZZZ", name={}, timezone="Asia/Seoul")
        )  # flushed only by the commit
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Office)) == 1


def test_any_other_error_rolls_back_and_goes_on(make_office) -> None:
    office = make_office(generate=False)
    before = dict(office.name)
    with pytest.raises(KeyError), transaction():
        office.name = {"en": "Half-written"}
        raise KeyError("bug")
    assert _name_in_database(office.id) == before


def test_atomic_runs_a_whole_function_in_one_transaction(make_office) -> None:
    office = make_office(generate=False)

    @atomic()
    def rename(name: str) -> str:
        office.name = {"en": name}
        if name == "refused":
            raise InvalidState("no")
        return name

    assert rename("Kept") == "Kept"
    with pytest.raises(InvalidState):
        rename("refused")
    assert _name_in_database(office.id) == {"en": "Kept"}


def test_a_refusal_reads_as_its_field_messages_or_its_message(app) -> None:
    from consular.services.errors import ValidationFailed

    assert refusal_text(InvalidState("Closed.")) == "Closed."
    assert refusal_text(ValidationFailed({"a": ["One."], "b": ["Two."]})) == "One. Two."
