"""The database layer's shared pieces: the count of rows an UPDATE or DELETE changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.database import rows_changed
from consular.extensions import db
from consular.models import Office


def test_rows_changed_counts_the_rows_an_update_matched(app, make_office) -> None:
    for code in ("first", "second", "third"):
        make_office(code, generate=False)
    two = db.session.execute(
        sa.update(Office).where(Office.code.in_(["first", "second"])).values(slot_minutes=20)
    )
    assert rows_changed(two) == 2
    nothing = db.session.execute(
        sa.update(Office).where(Office.code == "elsewhere").values(slot_minutes=20)
    )
    assert rows_changed(nothing) == 0


def test_rows_changed_refuses_the_result_of_a_query(app, make_office) -> None:
    make_office("first", generate=False)
    with pytest.raises(TypeError, match="UPDATE or DELETE"):
        rows_changed(db.session.execute(sa.select(Office)))
