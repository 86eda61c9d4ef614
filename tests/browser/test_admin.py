"""The administration in a real browser: a service type added in four languages and offered at
Busan only, booked there by a citizen on a phone, then retired; and every administration page
checked with axe-core.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png; the
citizen's window is numbered in the same row, its steps named citizen-<step>. The admin pages
are in English (their Kazakh and Korean texts may not be translated yet); the texts the admin
types are checked on the citizen's pages in Kazakh and Korean.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import VIEWPORTS, LiveServer, Screenshots, StaffAccount
from tests.browser.test_booking_journey import Citizen, assert_accessible, assert_fits_the_screen
from tests.browser.test_staff_day import Staff

pytestmark = pytest.mark.slow

CODE = "consular-registration"
# What the admin types, in each language of the form (and of the citizen's pages).
TEXTS: dict[str, dict[str, str]] = {
    "kk": {
        "name": "Консулдық есепке тұру",
        "description": "Кореяда тұрақты немесе уақытша тұратын азаматтарды консулдық есепке қою.",
        "documents": "Төлқұжат\nКореядағы тұру мәртебесін растайтын құжат (ARC)\n"
        "Екі фотосурет, 3,5 × 4,5 см",
        "fee": "Консулдық есепке тұру тегін.",
    },
    "ru": {
        "name": "Постановка на консульский учёт",
        "description": "Постановка на консульский учёт граждан, постоянно или временно "
        "проживающих в Корее.",
        "documents": "Паспорт\nДокумент о статусе пребывания в Корее (ARC)\n"
        "Две фотографии, 3,5 × 4,5 см",
        "fee": "Постановка на учёт бесплатна.",
    },
    "en": {
        "name": "Consular registration",
        "description": "Registration with the consulate of citizens who live in Korea, "
        "permanently or for a while.",
        "documents": "Passport\nProof of status in Korea (alien registration card)\n"
        "Two photos, 3.5 × 4.5 cm",
        "fee": "Consular registration is free of charge.",
    },
    "ko": {
        "name": "영사 등록",
        "description": "한국에 장기 또는 단기로 체류하는 국민의 영사 등록.",
        "documents": "여권\n한국 체류 자격 증명 (외국인등록증)\n사진 2매 (3.5 × 4.5cm)",
        "fee": "영사 등록은 무료입니다.",
    },
}
# Each language's name in itself, as the legend of its part of the form.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English", "ko": "한국어"}
RULES = {
    "Minimum notice, in hours": "48",
    "Booking horizon, in days": "90",
    "Cancel or change online until, in hours before the visit": "24",
    "Active bookings one person (IIN) may hold": "1",
    "Position in lists": "4",
}
BUSAN = "Consulate General of the Republic of Kazakhstan in Busan"
BUSAN_REFERENCE = re.compile(r"BSN-[2-9A-HJKMNP-Z]{6}")
MANAGE_PATH = re.compile(r"https?://\S+?(/manage/[^\s/]+/\S+)")


def test_a_service_added_in_four_languages_is_booked_at_busan_then_retired(
    admin: Staff,
    citizen_on_phone: Citizen,
    staff_accounts: dict[str, StaffAccount],
    texts: Callable,
) -> None:
    page, t = admin.page, admin.t
    sign_in_to_the_administration(admin, staff_accounts["admin"])

    # Administration → Service types → Add a service type.
    page.get_by_role("main").get_by_role("link", name=t("Service types")).click()
    admin.heading(t("Service types"))
    admin.checkpoint("services")
    expect(services_row(page, TEXTS["en"]["name"])).to_have_count(0)
    page.get_by_role("link", name=t("Add a service type")).click()
    admin.heading(t("Add a service type"))
    admin.checkpoint("new-service-empty")

    # Sent first without the English name and with too short a visit.
    fill_service_form(admin, name_en="", duration="3")
    admin.press(t("Add the service type"))
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(t("There is a problem"))
    # One link to each field, in the order of the page.
    problems = summary.get_by_role("link")
    expect(problems).to_have_count(2)
    name_link, duration_link = problems.nth(0), problems.nth(1)
    expect(name_link).to_have_attribute("href", "#name_en")
    expect(name_link).to_contain_text(
        t("Enter the name in English: it is shown wherever a translation is missing.")
    )
    expect(duration_link).to_have_attribute("href", "#duration_minutes")
    expect(duration_link).to_contain_text(t("Time at the desk, in minutes"))
    for language, texts_of_language in TEXTS.items():
        part = page.get_by_role("group", name=LANGUAGE_NAMES[language])
        for text, value in texts_of_language.items():
            if (language, text) != ("en", "name"):
                expect(part.get_by_label(field_label(t, text), exact=True)).to_have_value(value)
    expect(page.locator("#duration_minutes")).to_have_value("3")
    expect(page.locator("#duration_minutes")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name_en")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code")).to_have_value(CODE)
    for label, value in RULES.items():
        expect(page.get_by_label(t(label), exact=True)).to_have_value(value)
    offices = page.get_by_role("group", name=t("Offices that offer it"))
    expect(offices.get_by_role("checkbox", name=BUSAN)).to_be_checked()
    expect(offices.get_by_role("checkbox", name=re.compile("Embassy"))).not_to_be_checked()
    details = page.get_by_role("group", name=t("Extra details it collects"))
    expect(
        details.get_by_role("checkbox", name=t("Current passport (its expiry date)"))
    ).to_be_checked()
    admin.checkpoint("new-service-errors")

    # The summary's links lead to the fields; corrected, the form is sent with Enter from the
    # last one. (The links change the address's #fragment, and Chromium keeps that field in
    # view until the user scrolls: a mouse click after the scripted typing could miss.)
    name_link.click()
    expect(page.locator("#name_en")).to_be_focused()
    page.keyboard.type(TEXTS["en"]["name"])
    duration_link.click()
    duration = page.locator("#duration_minutes")
    expect(duration).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    admin.checkpoint("new-service-filled")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    admin.says(t("Service type %(name)s added.", name=TEXTS["en"]["name"]))
    admin.heading(t("Service types"))
    row = services_row(page, TEXTS["en"]["name"])
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text(BUSAN)
    expect(cells.nth(1)).to_have_text(t("Online"))
    expect(cells.nth(2)).to_have_text(t("Complete"))
    expect(row.get_by_role("rowheader")).to_contain_text(f"{CODE} · 20")
    admin.checkpoint("services-with-the-new-one")

    # The citizen, on a phone, finds it at Busan in Kazakh and Korean, not at Seoul, and books it.
    citizen = citizen_on_phone
    reference, manage_path = book_at_busan(citizen, texts)

    # The admin retires it; it has an appointment now, so it can't be deleted.
    row.get_by_role("link", name=TEXTS["en"]["name"]).click()
    admin.heading(TEXTS["en"]["name"])
    expect(
        page.get_by_text(t("It has appointments or tickets, so it can't be deleted."))
    ).to_be_visible()
    expect(page.get_by_role("button", name=t("Delete this service type"))).to_have_count(0)
    admin.checkpoint("service-edit")
    admin.press(t("Retire this service type"))
    admin.says(
        t(
            "%(name)s is retired: it can no longer be booked. Its history is kept.",
            name=TEXTS["en"]["name"],
        )
    )
    expect(services_row(page, TEXTS["en"]["name"]).get_by_role("cell").nth(1)).to_have_text(
        t("Retired")
    )
    admin.checkpoint("services-retired", audit=False)

    # Busan no longer offers it; the appointment keeps it.
    cpage, ct = citizen.page, citizen.t
    cpage.goto("/book/busan")
    citizen.heading(ct("What is your visit for?"))
    expect(cpage.get_by_text(TEXTS["ko"]["name"])).to_have_count(0)
    expect(cpage.get_by_role("checkbox")).not_to_have_count(0)
    citizen.checkpoint("busan-after-retiring")
    cpage.goto(manage_path)
    expect(cpage).to_have_url(re.compile(rf"/appointment/{reference}$"))
    citizen.heading(ct("Your appointment is booked"))
    main = cpage.get_by_role("main")
    expect(main).to_contain_text(TEXTS["ko"]["name"])
    expect(main).to_contain_text("사진 2매 (3.5 × 4.5cm)")
    citizen.checkpoint("appointment-after-retiring")
    assert_accessible(cpage)
    assert_fits_the_screen(cpage)


def test_every_administration_page_is_accessible(
    admin: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = admin.page, admin.t
    sign_in_to_the_administration(admin, staff_accounts["admin"])
    admin.checkpoint("admin")
    # The sections that exist when the test runs, as the start page links to them.
    links = page.get_by_role("main").get_by_role("link")
    paths = [urlparse(href).path for href in links.evaluate_all("as => as.map(a => a.href)")]
    assert {"/admin/services", "/admin/offices"} <= set(paths), paths
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.get_by_role("navigation", name=t("Administration"))).to_be_visible()
        admin.checkpoint(path.strip("/").replace("/", "-"))

    page.goto("/admin/offices")
    admin.heading(t("Offices"))
    page.get_by_role("link", name=BUSAN, exact=True).click()
    admin.heading(BUSAN)
    expect(page.locator("#code")).to_have_count(0)  # the code is shown, not edited
    expect(page.get_by_label(t("Time zone"), exact=True)).to_have_value("Asia/Seoul")
    admin.checkpoint("office-edit")

    page.get_by_role("link", name=t("Service types"), exact=True).first.click()
    page.get_by_role("link", name=t("Passport renewal / replacement"), exact=True).click()
    admin.heading(t("Passport renewal / replacement"))
    admin.checkpoint("service-edit")


# Steps


def sign_in_to_the_administration(admin: Staff, account: StaffAccount) -> None:
    """Open the administration, sign in on the staff sign-in page it leads to, land back."""
    page, t = admin.page, admin.t
    page.goto("/admin/")
    admin.heading(t("Staff sign-in"))
    page.get_by_label(t("Email address")).fill(account.email)
    page.get_by_label(t("Password")).fill(account.password)
    admin.checkpoint("sign-in", audit=False)
    admin.press(t("Sign in"))
    expect(page).to_have_url(re.compile(r"/admin/$"))
    admin.heading(t("Administration"))


def services_row(page: Page, name: str) -> Locator:
    """The row of a service type in the list, by its name."""
    table = page.get_by_role("table", name="Service types")
    return table.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def field_label(t: Callable[..., str], text: str) -> str:
    """The label of a text's field in each language's part of the form."""
    return {
        "name": t("Name"),
        "description": t("Description"),
        "documents": t("Documents to bring, one per line"),
        "fee": t("Fee"),
    }[text]


def fill_service_form(admin: Staff, *, name_en: str, duration: str) -> None:
    """Fill the new service type's form: texts in four languages, rules, Busan only."""
    page, t = admin.page, admin.t
    for language, texts_of_language in TEXTS.items():
        part = page.get_by_role("group", name=LANGUAGE_NAMES[language])
        for text, value in texts_of_language.items():
            if (language, text) == ("en", "name"):
                value = name_en
            part.get_by_label(field_label(t, text), exact=True).fill(value)
    page.get_by_label(t("Code"), exact=True).fill(CODE)
    page.get_by_label(t("Time at the desk, in minutes"), exact=True).fill(duration)
    for label, value in RULES.items():
        page.get_by_label(t(label), exact=True).fill(value)
    page.get_by_role("group", name=t("Offices that offer it")).get_by_role(
        "checkbox", name=BUSAN
    ).check()
    page.get_by_role("group", name=t("Extra details it collects")).get_by_role(
        "checkbox", name=t("Current passport (its expiry date)")
    ).check()


def book_at_busan(citizen: Citizen, texts: Callable) -> tuple[str, str]:
    """Find the new service in Kazakh and Korean, at Busan only, and book it.

    Return the booking reference and the path of the emailed link to the appointment.
    """
    page, server = citizen.page, citizen.server
    citizen.open_home()
    citizen.choose_language("kk")
    citizen.t = t = texts("kk")
    busan = page.get_by_role("region").filter(has=page.locator("#office-busan"))
    seoul = page.get_by_role("region").filter(has=page.locator("#office-seoul"))
    expect(busan.get_by_role("listitem").filter(has_text=TEXTS["kk"]["name"])).to_have_count(1)
    expect(seoul).not_to_contain_text(TEXTS["kk"]["name"])
    expect(seoul).to_contain_text("Паспортты ауыстыру")

    citizen.start_booking()
    citizen.heading(t("Which office do you want to visit?"))
    page.get_by_role("listitem").filter(has_text="Пусан").get_by_role("link").click()
    citizen.heading(t("What is your visit for?"))
    service = page.get_by_role("checkbox", name=TEXTS["kk"]["name"])
    expect(service).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(TEXTS["kk"]["description"])
    expect(page.get_by_role("main")).to_contain_text(TEXTS["kk"]["fee"])
    citizen.checkpoint("services-kk")
    assert_accessible(page)
    assert_fits_the_screen(page)

    # In Korean: the texts the admin typed in Korean, the documents one per line.
    page.locator("#language-select").select_option("ko")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    citizen.t = t = texts("ko")
    citizen.heading(t("What is your visit for?"))
    service = page.get_by_role("checkbox", name=TEXTS["ko"]["name"])
    expect(service).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text(TEXTS["kk"]["name"])
    about = page.locator(f"#service-{CODE}-about")
    expect(about).to_contain_text(TEXTS["ko"]["description"])
    about.locator("summary").click()
    expect(about.get_by_role("listitem")).to_have_text(TEXTS["ko"]["documents"].splitlines())
    citizen.checkpoint("services-ko")

    # Seoul doesn't offer it.
    page.goto("/book/seoul")
    citizen.heading(t("What is your visit for?"))
    expect(page.get_by_role("checkbox")).not_to_have_count(0)
    expect(page.get_by_role("main")).not_to_contain_text(TEXTS["ko"]["name"])
    citizen.checkpoint("seoul-services-ko")
    page.get_by_role("link", name=t("Change office")).click()
    page.get_by_role("listitem").filter(has_text="부산").get_by_role("link").click()

    page.get_by_role("checkbox", name=TEXTS["ko"]["name"]).check()
    page.get_by_role("button", name=t("Continue")).click()
    citizen.choose_a_day_and_time(next_month=True)
    citizen.fill_details()  # the service asks for the current passport's expiry date too
    expect(page.get_by_role("main")).to_contain_text(TEXTS["ko"]["name"])  # the review
    citizen.review_and_hold()

    page.locator("#code").fill(server.latest_code(citizen.email))
    page.get_by_role("button", name=t("Confirm the booking")).click()
    citizen.heading(t("Your appointment is booked"))
    reference = page.locator(".panel-confirmed .reference").inner_text()
    assert BUSAN_REFERENCE.fullmatch(reference), reference
    main = page.get_by_role("main")
    expect(main).to_contain_text(TEXTS["ko"]["name"])
    expect(main).to_contain_text(TEXTS["ko"]["fee"])
    citizen.checkpoint("confirmation")
    assert_accessible(page)

    server.deliver_mail()
    confirmation = server.emails_to(citizen.email)[-1]
    assert reference in str(confirmation["Subject"])
    body = confirmation.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert TEXTS["ko"]["name"] in text
    found = MANAGE_PATH.search(text)
    assert found, text
    return reference, found.group(1)


# Fixtures


class WindowShots(Screenshots):
    """Screenshots of a second window, numbered in the same row as the test's own."""

    def __init__(self, row: Screenshots, page: Page, prefix: str) -> None:
        super().__init__(page, row.folder)
        self.row = row
        self.prefix = prefix

    def take(self, step: str) -> Path:
        return self.row.take_of(self.page, f"{self.prefix}-{step}")


@pytest.fixture
def admin(page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable) -> Staff:
    """The demo administrator at the browser, in English."""
    return Staff(page, shots, live_server, texts("en"))


@pytest.fixture
def citizen_on_phone(
    browser: Browser, live_server: LiveServer, shots: Screenshots, texts: Callable
) -> Iterator[Citizen]:
    """A citizen in a browser of their own, on a phone; fails the test on a JavaScript error."""
    phone = browser.new_context(
        base_url=live_server.url,
        viewport=VIEWPORTS["phone"],
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        timezone_id="Europe/London",
    )
    phone.set_default_timeout(10_000)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield Citizen(
        page,
        WindowShots(shots, page, "citizen"),
        live_server,
        texts("en"),
        "registration.citizen@example.com",
    )
    phone.close()
    assert not errors, f"JavaScript errors in the citizen's window: {errors}"


def test_the_reports_by_day_hour_and_desk(
    admin: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    """The demo's four weeks of history: the charts by day leave the weekends out, and the
    views by hour and by desk draw their charts over their tables."""
    page, t = admin.page, admin.t
    sign_in_to_the_administration(admin, staff_accounts["admin"])
    page.goto("/admin/reports?office=seoul&from=2026-11-02&to=2026-11-29")
    admin.heading(t("Reports"))
    outcomes = page.locator("#chart-outcomes-caption").locator("xpath=..")
    # Four weeks of weekdays; the weekends (8 days) are left out and each gap is marked.
    note = outcomes.locator(".report-chart-note")
    expect(note).to_contain_text("8\u00a0days on which the office")
    expect(outcomes.locator(".report-chart-break")).to_have_count(3)
    expect(page.locator("#table-days tbody tr")).to_have_count(28)
    admin.checkpoint("reports-by-day")

    page.get_by_role("navigation", name=t("Views of the report")).get_by_role(
        "link", name=t("By hour of the day")
    ).click()
    expect(page).to_have_url(re.compile(r"/admin/reports/hours\?office=seoul&from=2026-11-02"))
    expect(page.locator("svg[role=img]")).to_have_count(2)
    expect(page.locator('#table-hours tbody tr[data-hour="9"]')).to_have_count(1)
    admin.checkpoint("reports-by-hour")

    page.get_by_role("link", name=t("By desk"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/reports/desks\?office=seoul"))
    expect(page.locator("svg[role=img]")).to_have_count(1)
    rows = page.locator("#table-desks tbody tr")
    assert rows.count() >= 2
    expect(page.locator('#table-desks tfoot tr[data-desk="total"] td').nth(1)).to_have_text(
        "100.0%"
    )
    admin.checkpoint("reports-by-desk")
