"""The kiosk's POSTs are counted per device: a stuck or abused tablet is slowed, and another
tablet of the same waiting room (the same address) keeps its own budget."""

from __future__ import annotations

from consular import create_app
from consular.extensions import db
from tests.conftest import FreshGlobalsClient, base_config
from tests.kiosk.conftest import start_kiosk


def test_too_many_tickets_from_one_device_are_refused(
    app, offices, accounts, database_url, clock
) -> None:
    email = accounts["manager_seoul"].email
    db.session.commit()
    db.session.close()  # the other app's requests write: this session keeps nothing open
    limited = create_app(
        base_config(database_url, clock)
        | {"RATELIMIT_ENABLED": True, "KIOSK_RATE_LIMIT": "3 per minute"}
    )
    limited.test_client_class = FreshGlobalsClient
    with limited.app_context():
        try:
            tablets = [limited.test_client(), limited.test_client()]
            for tablet in tablets:
                assert start_kiosk(tablet, email).status_code == 303
            answers = [
                tablets[0].post("/kiosk/seoul/walk-in", data={"service": "0"}).status_code
                for _ in range(4)
            ]
            assert answers == [303, 303, 303, 429]
            # The second tablet, from the same address, still works.
            assert tablets[1].post("/kiosk/seoul/walk-in", data={"service": "0"}).status_code == 303
        finally:
            db.session.remove()
            db.engine.dispose()
