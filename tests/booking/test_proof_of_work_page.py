"""Proof of work on the citizen's pages: the widget on the review page, and what a hold without
a good proof shows (the review again, the details kept, the message beside the widget)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC

import altcha
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext

from consular.extensions import db
from consular.models import Appointment, SpentProof
from consular.models.i18n import LANGUAGES
from consular.services import proof_of_work
from tests.booking import test_journey_pages
from tests.booking.test_journey_pages import WEDNESDAY_10, details_url, passport_form

office = test_journey_pages.office  # the fixture: Seoul, with a passport renewal

HOLD_FORM = re.compile(r'<form method="post" action="/book/seoul/hold">(.*?)</form>', re.S)
WIDGET_TEXTS = ("I'm not a robot", "Checking that a person is booking…")


@pytest.fixture
def proof_of_work_on(app: Flask) -> None:
    app.config.update(POW_ENABLED=True, POW_COST=1, POW_BASE_MAX_NUMBER=40)


def review_page(client: FlaskClient, **headers: str) -> str:
    response = client.post(
        details_url(WEDNESDAY_10), data=passport_form(), headers=headers, follow_redirects=True
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def hold_form(page: str) -> str:
    found = HOLD_FORM.search(page)
    assert found, page[:2000]
    return found.group(1)


def solved(client: FlaskClient) -> str:
    challenge = altcha.Challenge.from_dict(client.get("/api/v1/challenge?office=seoul").get_json())
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def hold(client: FlaskClient, **fields: str):
    data = passport_form() | {
        "services": "passport-renewal",
        "start": WEDNESDAY_10.astimezone(UTC).isoformat(),
        **fields,
    }
    return client.post("/book/seoul/hold", data=data)


def appointments() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) or 0


@pytest.mark.usefixtures("proof_of_work_on")
def test_the_review_page_has_the_widget_in_the_hold_form(client, office) -> None:
    page = review_page(client)
    form = hold_form(page)
    assert form.index('id="proof-of-work"') < form.index('type="submit"')
    assert 'data-challenge-url="/api/v1/challenge?office=seoul"' in form
    assert 'data-worker-url="/static/vendor/altcha/workers/pbkdf2.js"' in form
    assert 'name="device_fingerprint"' in form
    assert "<noscript>" in form and "Turn JavaScript on and reload this page" in form
    strings = json.loads(html.unescape(re.search(r"data-strings='([^']*)'", form).group(1)))
    assert strings["label"] == "I'm not a robot" and set(strings) >= {"verifying", "verified"}
    # Scripts from static files only (a Content Security Policy is coming), none inline.
    assert '<script src="/static/vendor/altcha/altcha.min.js" defer></script>' in page
    assert '<script src="/static/js/proof-of-work.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert '<link rel="stylesheet" href="/static/vendor/altcha/altcha.css">' in page


def test_without_proof_of_work_the_review_page_has_no_widget(client, office) -> None:
    page = review_page(client)
    assert "data-proof-of-work" not in page and "altcha" not in page
    assert hold(client).status_code == 302


@pytest.mark.usefixtures("proof_of_work_on")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_widget_speaks_every_language(app, client, office, language) -> None:
    page = review_page(client, **{"Accept-Language": language})
    form = hold_form(page)
    strings = json.loads(html.unescape(re.search(r"data-strings='([^']*)'", form).group(1)))
    assert f'data-language="{language}"' in form
    with app.test_request_context(), force_locale(language):
        assert strings["label"] == gettext("I'm not a robot")
        assert strings["verifying"] == gettext("Checking that a person is booking…")
    if language != "en":
        assert strings["label"] not in WIDGET_TEXTS and strings["verifying"] not in WIDGET_TEXTS


@pytest.mark.usefixtures("proof_of_work_on")
def test_a_hold_without_a_proof_shows_the_review_again_with_the_message_by_the_widget(
    client, office
) -> None:
    response = hold(client)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    message = str(proof_of_work.ProofOfWorkRequired().message)
    assert "<title>Error: Check your booking" in page
    summary = page[page.index('class="error-summary"') : page.index("<h1>")]
    assert f'<a href="#proof-of-work">{html.escape(message, quote=False)}</a>' in summary
    form = hold_form(page)
    widget = form[form.index('id="proof-of-work"') : form.index('type="submit"')]
    assert 'class="field proof-of-work field-error"' in form
    assert 'id="proof-of-work-error"' in widget and html.escape(message, quote=False) in widget
    # The details typed on the details page are all still there, for the next press.
    for name, value in passport_form().items():
        assert f'name="{name}" value="{value}"' in form
    assert appointments() == 0


@pytest.mark.usefixtures("proof_of_work_on")
def test_a_hold_with_a_solved_proof_goes_through_and_spends_it(client, office) -> None:
    proof = solved(client)
    response = hold(client, proof_of_work=proof, device_fingerprint="12" * 16)
    assert response.status_code == 302 and "/book/hold/" in response.headers["Location"]
    assert appointments() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpentProof)) == 1

    again = hold(client, proof_of_work=proof, iin="900101300015")
    assert again.status_code == 422
    assert html.escape(str(proof_of_work.REUSED), quote=False) in hold_form(again.text)
    assert appointments() == 1


@pytest.mark.usefixtures("proof_of_work_on")
def test_a_wrong_proof_is_refused_on_the_page_too(client, office) -> None:
    response = hold(client, proof_of_work="not a proof")
    assert response.status_code == 422
    assert html.escape(str(proof_of_work.INVALID), quote=False) in hold_form(response.text)
    assert appointments() == 0
