"""Demo data: two offices, three services, hours, holidays, slots, staff accounts and four
weeks of past visits.

Addresses, phone numbers and hours are demo values, marked as such; administrators edit them.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app

from consular.database import SessionLike
from consular.models import (
    Appointment,
    AppointmentService,
    Desk,
    Office,
    OpeningPeriod,
    Role,
    ServiceType,
    Slot,
    Status,
    Ticket,
    TicketCounter,
    TicketStatus,
    User,
    appointment_slot,
)
from consular.services import schedule
from consular.services.availability import VisitRules
from consular.services.booking import REFERENCE_ALPHABET, BookingPolicy, policy_from_config
from consular.services.catalog import set_combinations
from consular.services.identity import iin_check_digit
from consular.services.passwords import hash_password
from consular.services.queue import arrival_note
from consular.services.schedule import walk_in_seats

DEMO_LABEL = {
    "kk": "(демо деректер)",
    "ru": "(демо-данные)",
    "en": "(demo data)",
    "ko": "(데모 데이터)",
}

OFFICES: list[dict] = [
    {
        "code": "seoul",
        "reference_prefix": "SEL",
        "name": {
            "kk": "Қазақстан Республикасының Корея Республикасындағы Елшілігінің консулдық бөлімі",
            "ru": "Консульский отдел Посольства Республики Казахстан в Республике Корея",
            "en": "Embassy of the Republic of Kazakhstan, consular section",
            "ko": "주한 카자흐스탄 공화국 대사관 영사과",
        },
        "address": {
            "kk": "Сеул, Чунгу, Демо-даңғылы, 1",
            "ru": "Сеул, Чунгу, Демо-проспект, 1",
            "en": "1 Demo-daero, Jung-gu, Seoul",
            "ko": "서울특별시 중구 데모대로 1",
        },
        "directions": {
            "kk": "Метроның 2-желісі, «Сичхон» бекеті, 3-шығу, 5 минут жаяу.",
            "ru": "Метро, линия 2, станция «Сичхон», выход 3, пять минут пешком.",
            "en": "Subway line 2, City Hall station, exit 3, five minutes on foot.",
            "ko": "지하철 2호선 시청역 3번 출구에서 도보 5분.",
        },
        "map_url": "https://www.openstreetmap.org/?mlat=37.5663&mlon=126.9779#map=17/37.5663/126.9779",
        "phone": "+82 2 000 0000",
        "postal_code": "04520",
        "email": "seoul@consular.localhost",
        "desks": (3, 2),
    },
    {
        "code": "busan",
        "reference_prefix": "BSN",
        "name": {
            "kk": "Қазақстан Республикасының Пусандағы Бас консулдығы",
            "ru": "Генеральное консульство Республики Казахстан в Пусане",
            "en": "Consulate General of the Republic of Kazakhstan in Busan",
            "ko": "주부산 카자흐스탄 공화국 총영사관",
        },
        "address": {
            "kk": "Пусан, Тонгу, Демо-көшесі, 2",
            "ru": "Пусан, Тонгу, Демо-ро, 2",
            "en": "2 Demo-ro, Dong-gu, Busan",
            "ko": "부산광역시 동구 데모로 2",
        },
        "directions": {
            "kk": "Метроның 1-желісі, «Пусан бекеті», 7-шығу, 7 минут жаяу.",
            "ru": "Метро, линия 1, станция «Пусан», выход 7, семь минут пешком.",
            "en": "Subway line 1, Busan Station, exit 7, seven minutes on foot.",
            "ko": "지하철 1호선 부산역 7번 출구에서 도보 7분.",
        },
        "map_url": "https://www.openstreetmap.org/?mlat=35.1152&mlon=129.0422#map=17/35.1152/129.0422",
        "phone": "+82 51 000 0000",
        "postal_code": "48732",
        "email": "busan@consular.localhost",
        "desks": (2, 2),
    },
]

SERVICES: list[dict] = [
    {
        "code": "passport-renewal",
        "sort_order": 1,
        "duration_minutes": 30,
        "detail_sets": ["current_passport"],
        "name": {
            "kk": "Паспортты ауыстыру",
            "ru": "Замена паспорта",
            "en": "Passport renewal / replacement",
            "ko": "여권 갱신 및 재발급",
        },
        "description": {
            "kk": "Мерзімі өтетін, бүлінген немесе жоғалған паспорттың орнына жаңа паспорт ресімдеу.",
            "ru": "Оформление нового паспорта взамен истекающего, испорченного или утерянного.",
            "en": "A new passport in place of one that is expiring, damaged or lost.",
            "ko": "만료 예정이거나 훼손 또는 분실된 여권을 대신할 새 여권 발급.",
        },
        "documents": {
            "kk": [
                "Қазіргі паспорт (жоғалса — полицияның анықтамасы)",
                "Жеке куәлік немесе ЖСН көрсетілген құжат",
                "Шетелдікті тіркеу картасы (Кореядағы тұру мәртебесін растайды)",
                "Консулдық алымның төленгенін растайтын түбіртек",
            ],
            "ru": [
                "Действующий паспорт (при утере — справка из полиции)",
                "Удостоверение личности или документ с ИИН",
                "Карта регистрации иностранца (подтверждает статус пребывания в Корее)",
                "Квитанция об оплате консульского сбора",
            ],
            "en": [
                "Current passport (if lost, the police report)",
                "Identity card or another document showing the IIN",
                "Proof of status in Korea (alien registration card)",
                "Receipt of the consular fee",
            ],
            "ko": [
                "현재 여권 (분실 시 경찰 분실 신고 확인서)",
                "신분증 또는 개인식별번호(IIN)가 기재된 서류",
                "한국 체류 자격 증명 (외국인등록증)",
                "영사 수수료 납부 영수증",
            ],
        },
        "fee": {
            "kk": "Консулдық алым: 30 000 вон (демо сома). Келген күні кеңседе картамен немесе қолма-қол төленеді.",
            "ru": "Консульский сбор: 30 000 вон (демо-сумма). Оплачивается в день визита на месте, картой или наличными.",
            "en": "Consular fee: 30,000 won (demo amount). Paid on the day at the office, by card or in cash.",
            "ko": "영사 수수료: 30,000원 (데모 금액). 방문 당일 창구에서 카드 또는 현금으로 납부합니다.",
        },
    },
    {
        "code": "marriage-registration",
        "sort_order": 2,
        "duration_minutes": 45,
        "detail_sets": ["spouse"],
        "name": {
            "kk": "Некені мемлекеттік тіркеу",
            "ru": "Государственная регистрация брака",
            "en": "State registration of marriage",
            "ko": "혼인 신고",
        },
        "description": {
            "kk": "Екі жұбайдың қатысуымен некені тіркеу. Екеуі де келуі тиіс.",
            "ru": "Регистрация брака в присутствии обоих супругов. Приходят оба.",
            "en": "Registration of a marriage in the presence of both spouses. Both must attend.",
            "ko": "두 배우자가 모두 참석한 가운데 혼인을 등록합니다. 두 사람 모두 방문해야 합니다.",
        },
        "documents": {
            "kk": [
                "Екі жұбайдың паспорттары",
                "Неке қиюға өтініш (кеңседе толтырылады)",
                "Шетел азаматы үшін: некеге кедергі жоқ екені туралы анықтама, аудармасымен",
                "Бұрын некеде болса: ажырасу туралы куәлік",
            ],
            "ru": [
                "Паспорта обоих супругов",
                "Заявление о регистрации брака (заполняется в отделе)",
                "Для иностранного гражданина: справка об отсутствии препятствий к браку с переводом",
                "Если ранее состояли в браке: свидетельство о расторжении брака",
            ],
            "en": [
                "Passports of both spouses",
                "Application to register the marriage (filled in at the office)",
                "For a foreign spouse: certificate of no impediment to marriage, with a translation",
                "If married before: the divorce certificate",
            ],
            "ko": [
                "두 배우자의 여권",
                "혼인 신고서 (영사과에서 작성)",
                "외국인 배우자: 혼인 요건 구비 증명서 및 번역본",
                "이전 혼인 이력이 있는 경우: 이혼 증명서",
            ],
        },
        "fee": {
            "kk": "Мемлекеттік баж: 15 000 вон (демо сома). Келген күні кеңседе картамен немесе қолма-қол төленеді.",
            "ru": "Государственная пошлина: 15 000 вон (демо-сумма). Оплачивается в день визита на месте, картой или наличными.",
            "en": "State duty: 15,000 won (demo amount). Paid on the day at the office, by card or in cash.",
            "ko": "국가 수수료: 15,000원 (데모 금액). 방문 당일 창구에서 카드 또는 현금으로 납부합니다.",
        },
    },
    {
        "code": "birth-registration",
        "sort_order": 3,
        "duration_minutes": 30,
        "detail_sets": ["child", "parents"],
        "name": {
            "kk": "Баланың тууын мемлекеттік тіркеу",
            "ru": "Государственная регистрация рождения ребёнка",
            "en": "State registration of a child's birth",
            "ko": "자녀 출생 신고",
        },
        "description": {
            "kk": "Кореяда туған баланың тууын тіркеу және туу туралы куәлік беру.",
            "ru": "Регистрация рождения ребёнка, родившегося в Корее, и выдача свидетельства о рождении.",
            "en": "Registration of a child born in Korea and issue of the birth certificate.",
            "ko": "한국에서 태어난 자녀의 출생 등록 및 출생증명서 발급.",
        },
        "documents": {
            "kk": [
                "Ата-аналардың паспорттары",
                "Корея ауруханасының туу туралы анықтамасы, аудармасымен",
                "Неке туралы куәлік (бар болса)",
            ],
            "ru": [
                "Паспорта родителей",
                "Справка о рождении из корейской больницы с переводом",
                "Свидетельство о браке (если есть)",
            ],
            "en": [
                "Parents' passports",
                "Birth record from the Korean hospital, with a translation",
                "Marriage certificate (if any)",
            ],
            "ko": [
                "부모의 여권",
                "한국 병원의 출생 증명서 및 번역본",
                "혼인 증명서 (있는 경우)",
            ],
        },
        "fee": {
            "kk": "Тууды тіркеу тегін.",
            "ru": "Регистрация рождения бесплатна.",
            "en": "Birth registration is free of charge.",
            "ko": "출생 등록은 무료입니다.",
        },
    },
]

# Monday to Friday, a morning and an afternoon block with a lunch break between.
MORNING = (time(9, 0), time(12, 30))
AFTERNOON = (time(14, 0), time(17, 0))


def _demo_text(texts: dict[str, str]) -> dict[str, str]:
    return {lang: f"{text} {DEMO_LABEL[lang]}" for lang, text in texts.items()}


def _upsert_office(session: SessionLike, spec: dict) -> Office:
    office = session.scalar(sa.select(Office).where(Office.code == spec["code"]))
    if office is not None:
        return office
    office = Office(
        code=spec["code"],
        reference_prefix=spec["reference_prefix"],
        name=spec["name"],
        address=_demo_text(spec["address"]),
        directions=spec["directions"],
        map_url=spec["map_url"],
        phone=spec["phone"],
        email=spec["email"],
        postal_code=spec["postal_code"],
        timezone="Asia/Seoul",
        slot_minutes=15,
        booking_open=True,
        is_demo=True,
        ticket_prefix=spec["reference_prefix"][0],
        walk_in_share=10,
    )
    morning_desks, afternoon_desks = spec["desks"]
    for number in range(1, max(spec["desks"]) + 1):
        session.add(Desk(office=office, name=str(number)))
    for weekday in range(5):
        office.opening_periods.append(
            OpeningPeriod(
                weekday=weekday, opens_at=MORNING[0], closes_at=MORNING[1], desks=morning_desks
            )
        )
        office.opening_periods.append(
            OpeningPeriod(
                weekday=weekday,
                opens_at=AFTERNOON[0],
                closes_at=AFTERNOON[1],
                desks=afternoon_desks,
            )
        )
    session.add(office)
    session.flush()
    return office


def _upsert_service(session: SessionLike, spec: dict, offices: list[Office]) -> ServiceType:
    service = session.scalar(sa.select(ServiceType).where(ServiceType.code == spec["code"]))
    if service is None:
        service = ServiceType(**spec, min_notice_hours=24, horizon_days=60, cutoff_hours=24)
        service.offices = list(offices)
        session.add(service)
    return service


def _ensure_account(
    session: SessionLike, email: str, name: str, role: Role, offices: list[Office]
) -> tuple[str, str, str] | None:
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        return None
    password = secrets.token_urlsafe(9)
    session.add(
        User(
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(password),
            offices=offices,
        )
    )
    return email, password, str(role)


def seed(
    session: SessionLike, now: datetime, horizon_days: int, *, history_days: int | None = None
) -> list[tuple[str, str, str]]:
    """Create whatever demo data is missing; return the accounts created with their passwords.

    The past visits (of `history_days` days, HISTORY_DAYS by default) are made only along
    with the offices, so a second run never adds more.
    """
    if history_days is None:
        history_days = HISTORY_DAYS
    codes = [spec["code"] for spec in OFFICES]
    fresh = session.scalar(sa.select(Office.id).where(Office.code.in_(codes)).limit(1)) is None
    offices = [_upsert_office(session, spec) for spec in OFFICES]
    services = [_upsert_service(session, spec, offices) for spec in SERVICES]
    session.flush()
    for service in services:
        if not service.combinable_with:
            set_combinations(session, service, services)
    seoul, busan = offices
    created = [
        account
        for account in (
            _ensure_account(
                session, "admin@demo.consular.localhost", "Demo Administrator", Role.ADMIN, offices
            ),
            _ensure_account(
                session,
                "manager.seoul@demo.consular.localhost",
                "Demo Manager (Seoul)",
                Role.MANAGER,
                [seoul],
            ),
            _ensure_account(
                session,
                "clerk.seoul@demo.consular.localhost",
                "Demo Clerk (Seoul)",
                Role.CLERK,
                [seoul],
            ),
            _ensure_account(
                session,
                "clerk.busan@demo.consular.localhost",
                "Demo Clerk (Busan)",
                Role.CLERK,
                [busan],
            ),
        )
        if account is not None
    ]
    years = [now.year, now.year + 1]
    for office in offices:
        schedule.load_public_holidays(session, office, years)
        session.refresh(office, ["closures"])
        schedule.sync_slots(session, office, now, horizon_days)
    session.flush()
    if fresh and history_days:
        seed_history(session, now, history_days)
    if created:
        _remember_logins(created)
    return created


def _remember_logins(accounts: list[tuple[str, str, str]]) -> None:
    """Keep the demo logins in the instance folder so that `make run` can show them again."""
    path = Path(current_app.instance_path) / "demo-logins.txt"
    with path.open("a", encoding="utf-8") as handle:
        for email, password, role in accounts:
            handle.write(f"{role:8} {email}  password: {password}\n")


# Four weeks of past visits, so that the reports and the staff's past days show something.
# Every person is invented: names from the short lists below, IINs made up (with the right
# check digit), addresses @example.com and phone numbers of no one in particular.

HISTORY_DAYS = 28
HISTORY_SEED = 2026

MALE_NAMES = ("Arman", "Daniyar", "Yerlan", "Timur", "Askar", "Serik", "Marat", "Olzhas")
FEMALE_NAMES = ("Aliya", "Dana", "Gulnara", "Madina", "Saule", "Zhanna", "Aruzhan", "Dinara")
# The male form; the female form adds an "a" (Akhmetov, Akhmetova).
FAMILY_NAMES = (
    "Akhmetov",
    "Baimukhanov",
    "Yessenov",
    "Kassymov",
    "Mukanov",
    "Ospanov",
    "Rakhimov",
    "Tulegenov",
    "Utepov",
    "Iskakov",
)
KOREAN_GIVEN_NAMES = ("Minji", "Jiho", "Seoyeon", "Hyunwoo", "Jisoo", "Donghyun")
KOREAN_FAMILY_NAMES = ("Kim", "Lee", "Park", "Choi", "Jung", "Kang")
CANCEL_REASONS = (None, "Change of plans", "Documents not ready", "Travelling that week")
VISIT_LANGUAGES = (("ru", 5), ("kk", 3), ("en", 1), ("ko", 1))
# What people book, by service codes, with how often.
VISIT_KINDS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("passport-renewal",), 55),
    (("birth-registration",), 20),
    (("marriage-registration",), 17),
    (("passport-renewal", "birth-registration"), 8),
)
# What became of a visit placed online, with how often; an expired hold was never confirmed.
OUTCOMES = ((Status.SERVED, 76), (Status.NO_SHOW, 9), (Status.CANCELLED, 10), (Status.EXPIRED, 5))
T = TypeVar("T")
ROLE_ORDER = {Role.CLERK: 0, Role.MANAGER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class _Person:
    given_name: str
    family_name: str
    family_base: str  # the male form of the family name
    iin: str
    male: bool


@dataclass
class _Day:
    """One past opening day of an office, while its visits are made up."""

    office: Office
    day: date
    slots: list[Slot]
    free: list[int]
    closing: datetime
    tickets: list[Ticket] = field(default_factory=list)
    seats: list[tuple[Appointment, list[Slot], datetime | None]] = field(default_factory=list)


def _weighted(rng: random.Random, choices: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 60))


def _iin(rng: random.Random, born: date, male: bool) -> str:
    """A made-up IIN for the birth date and sex, with a valid check digit."""
    century = (3 if born.year < 2000 else 5) + (0 if male else 1)
    while True:
        first = f"{born:%y%m%d}{century}{rng.randrange(10_000):04d}"
        check = iin_check_digit(first)
        if check is not None:
            return f"{first}{check}"


def _birth_date(rng: random.Random, oldest: int, youngest: int, today: date) -> date:
    return today - timedelta(days=rng.randint(youngest * 365, oldest * 365))


def _person(rng: random.Random, today: date, *, male: bool | None = None) -> _Person:
    male = rng.random() < 0.5 if male is None else male
    base = rng.choice(FAMILY_NAMES)
    given = rng.choice(MALE_NAMES if male else FEMALE_NAMES)
    born = _birth_date(rng, 65, 20, today)
    return _Person(given, base if male else f"{base}a", base, _iin(rng, born, male), male)


def _details(
    rng: random.Random, codes: tuple[str, ...], person: _Person, office: Office, day: date
) -> dict[str, dict[str, str]]:
    """Answers to the services' extra questions, as the booking form would keep them."""
    details: dict[str, dict[str, str]] = {}
    if "passport-renewal" in codes:
        expiry = day + timedelta(days=rng.randint(-120, 180))
        details["current_passport"] = {"expiry_date": expiry.isoformat()}
    if "marriage-registration" in codes:
        born = _birth_date(rng, 45, 22, day)
        if rng.random() < 0.6:
            details["spouse"] = {
                "given_name": rng.choice(KOREAN_GIVEN_NAMES),
                "family_name": rng.choice(KOREAN_FAMILY_NAMES),
                "birth_date": born.isoformat(),
                "foreign_passport": f"M{rng.randrange(10**8):08d}",
            }
        else:
            spouse = _person(rng, day, male=not person.male)
            details["spouse"] = {
                "given_name": spouse.given_name,
                "family_name": spouse.family_name,
                "birth_date": born.isoformat(),
                "iin": _iin(rng, born, spouse.male),
            }
    if "birth-registration" in codes:
        boy = rng.random() < 0.5
        details["child"] = {
            "given_name": rng.choice(MALE_NAMES if boy else FEMALE_NAMES),
            "family_name": person.family_base if boy else f"{person.family_base}a",
            "birth_date": (day - timedelta(days=rng.randint(10, 80))).isoformat(),
            "birth_place": office.code.capitalize(),
        }
        other = _person(rng, day, male=not person.male)
        other_parent = {
            "given_name": other.given_name,
            "family_name": person.family_base if other.male else f"{person.family_base}a",
            "iin": other.iin,
        }
        this_parent = {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "iin": person.iin,
        }
        details["father"] = this_parent if person.male else other_parent
        details["mother"] = other_parent if person.male else this_parent
    return details


def _reference(rng: random.Random, office: Office, taken: set[str]) -> str:
    while True:
        body = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(6))
        reference = f"{office.reference_prefix}-{body}"
        if reference not in taken:
            taken.add(reference)
            return reference


def _serve(
    rng: random.Random,
    ticket: Ticket,
    slot: Slot,
    desks: list[Desk],
    staff: list[User],
    wait: tuple[float, float] = (3, 25),
) -> None:
    """Call the ticket to a desk open at the time and serve it, as the clerks' screen would."""
    number = rng.randrange(min(slot.desks, len(desks)))
    ticket.desk = desks[number]
    ticket.clerk = staff[number % len(staff)] if staff else None
    ticket.status = TicketStatus.SERVED
    ticket.call_count = 1
    ticket.first_called_at = ticket.last_called_at = ticket.arrived_at + _minutes(rng, *wait)
    ticket.finished_at = ticket.first_called_at + _minutes(rng, 5, 20)


def _reminders(rng: random.Random, appointment: Appointment, until: datetime) -> None:
    """The reminders the 3-day and 1-day rounds would have sent before `until`."""
    confirmed_at = appointment.confirmed_at
    assert confirmed_at is not None
    starts_at = appointment.starts_at
    three = max(starts_at - timedelta(days=3), confirmed_at) + _minutes(rng, 1, 50)
    if three < starts_at - timedelta(days=1) and three < until:
        appointment.reminder_3d_sent_at = three
    one = max(starts_at - timedelta(days=1), confirmed_at) + _minutes(rng, 1, 50)
    if one < until:
        appointment.reminder_1d_sent_at = one


def _past_visit(
    rng: random.Random,
    plan: _Day,
    run: list[Slot],
    services: list[ServiceType],
    desks: list[Desk],
    staff: list[User],
    policy: BookingPolicy,
    references: set[str],
) -> Appointment:
    """A visit booked online for the run of slots, with the outcome chosen at random, as
    the booking core, the queue and the end of the day leave it."""
    office, starts_at = plan.office, run[0].starts_at
    codes = tuple(s.code for s in services)
    person = _person(rng, plan.day)
    number = len(references)
    created_at = starts_at - timedelta(days=rng.choice((1, 2, 3, 5, 7, 10, 14, 21)))
    created_at -= _minutes(rng, 10, 600)
    appointment = Appointment(
        reference=_reference(rng, office, references),
        office=office,
        starts_at=starts_at,
        ends_at=run[-1].ends_at,
        language=_weighted(rng, VISIT_LANGUAGES),
        given_name=person.given_name,
        family_name=person.family_name,
        iin=person.iin,
        passport_number=f"N{rng.randrange(10**8):08d}",
        email=f"{person.given_name}.{person.family_name}.{number}@example.com".lower(),
        phone=f"+8210{rng.randrange(2000, 10_000)}{rng.randrange(10_000):04d}",
        details=_details(rng, codes, person, office, plan.day),
        # A code that was never sent: nothing can confirm a past hold.
        code_hash=f"{rng.getrandbits(256):064x}",
        created_at=created_at,
        hold_expires_at=created_at + timedelta(minutes=policy.hold_minutes),
    )
    for service in services:
        appointment.service_lines.append(
            AppointmentService(
                service_type=service, iin=person.iin, is_active=False, snapshot=service.snapshot()
            )
        )
    status = _weighted(rng, OUTCOMES)
    release_at: datetime | None = None
    if status == Status.EXPIRED:
        appointment.status = Status.EXPIRED
        appointment.expired_at = release_at = appointment.hold_expires_at
    else:
        confirmed_at = created_at + _minutes(rng, 1, policy.hold_minutes - 1)
        appointment.confirmed_at = confirmed_at
        appointment.sequence = 1
        if status == Status.CANCELLED:
            latest = starts_at - timedelta(days=1)
            cancelled_at = confirmed_at + (latest - confirmed_at) * rng.random()
            appointment.status = Status.CANCELLED
            appointment.sequence = 2
            appointment.cancelled_at = cancelled_at
            appointment.cancel_reason = rng.choice(CANCEL_REASONS)
            release_at = cancelled_at + timedelta(minutes=policy.release_delay_minutes)
            _reminders(rng, appointment, cancelled_at)
        elif status == Status.NO_SHOW:
            # Marked by `flask queue close-day` in the evening.
            appointment.status = Status.NO_SHOW
            appointment.no_show_at = plan.closing
            _reminders(rng, appointment, starts_at)
        else:
            early = rng.random() < 0.85
            arrived_at = starts_at + (-_minutes(rng, 0, 25) if early else _minutes(rng, 1, 12))
            ticket = Ticket(
                office=office,
                service_day=plan.day,
                appointment=appointment,
                service_type=services[0],
                queue_at=starts_at,
                arrived_at=arrived_at,
                note=arrival_note(appointment, arrived_at),
            )
            _serve(rng, ticket, run[0], desks, staff)
            appointment.status = Status.SERVED
            appointment.checked_in_at = arrived_at
            appointment.called_at = ticket.first_called_at
            appointment.served_at = ticket.finished_at
            plan.tickets.append(ticket)
            _reminders(rng, appointment, starts_at)
    plan.seats.append((appointment, run, release_at))
    return appointment


def _book_day(
    rng: random.Random,
    plan: _Day,
    services: dict[str, ServiceType],
    desks: list[Desk],
    staff: list[User],
    policy: BookingPolicy,
    references: set[str],
) -> int:
    """Book most of the day's online seats; a cancelled or expired visit gives its seats
    back, so another may take them. Returns the number of visits made."""
    office, slots = plan.office, plan.slots
    target = round(sum(plan.free) * rng.uniform(0.55, 0.9))
    taken = made = 0
    for _attempt in range(400):
        if taken >= target:
            break
        chosen = [services[code] for code in _weighted(rng, VISIT_KINDS) if code in services]
        if not chosen:
            continue
        needed = VisitRules.for_services(chosen).slots_needed(office.slot_minutes)
        if needed > len(slots):
            continue
        first = rng.randrange(len(slots) - needed + 1)
        run = slots[first : first + needed]
        contiguous = all(a.ends_at == b.starts_at for a, b in zip(run, run[1:], strict=False))
        if not contiguous or any(plan.free[first + i] <= 0 for i in range(needed)):
            continue
        appointment = _past_visit(rng, plan, run, chosen, desks, staff, policy, references)
        made += 1
        if appointment.status in (Status.SERVED, Status.NO_SHOW):
            for i in range(needed):
                plan.free[first + i] -= 1
                run[i].booked += 1
            taken += needed
    return made


def _walk_ins(
    rng: random.Random,
    plan: _Day,
    services: dict[str, ServiceType],
    desks: list[Desk],
    staff: list[User],
) -> None:
    """Visitors without a booking, within the day's walk-in share, and now and then an
    urgent case (always admitted) or someone who left before being called."""
    office, slots = plan.office, plan.slots
    allowance = walk_in_seats(sum(slot.desks for slot in slots), office.walk_in_share)
    budget = rng.randint(allowance // 2, allowance)
    used = 0
    singles = tuple((codes, weight) for codes, weight in VISIT_KINDS if len(codes) == 1)
    while True:
        service = services.get(_weighted(rng, singles)[0])
        if service is None:
            break
        needed = math.ceil(service.duration_minutes / office.slot_minutes)
        if used + needed > budget:
            break
        used += needed
        plan.tickets.append(_walk_in(rng, plan, service, desks, staff, urgent=False))
    if rng.random() < 0.15:
        service = services.get("passport-renewal") or next(iter(services.values()))
        plan.tickets.append(_walk_in(rng, plan, service, desks, staff, urgent=True))


def _walk_in(
    rng: random.Random,
    plan: _Day,
    service: ServiceType,
    desks: list[Desk],
    staff: list[User],
    *,
    urgent: bool,
) -> Ticket:
    slot = rng.choice(plan.slots[:-2] or plan.slots)
    arrived_at = slot.starts_at + _minutes(rng, 0, plan.office.slot_minutes)
    ticket = Ticket(
        office=plan.office,
        service_day=plan.day,
        service_type=service,
        is_walk_in=True,
        is_priority=urgent,
        queue_at=arrived_at,
        arrived_at=arrived_at,
        note="urgent: travel tomorrow" if urgent else "",
    )
    if not urgent and rng.random() < 0.1:
        # Left before being called; `flask queue close-day` closed the ticket.
        ticket.status = TicketStatus.MISSED
        ticket.finished_at = plan.closing
    else:
        _serve(rng, ticket, slot, desks, staff, (3, 8) if urgent else (3, 25))
    return ticket


def _office_history(
    session: SessionLike,
    rng: random.Random,
    office: Office,
    services: dict[str, ServiceType],
    first_day: date,
    last_day: date,
    policy: BookingPolicy,
    references: set[str],
) -> int:
    """Past slots, visits and tickets of one office; returns the number of appointments."""
    zone = office.zone
    schedule.load_public_holidays(session, office, sorted({first_day.year, last_day.year}))
    session.refresh(office, ["closures"])
    planned = list(
        schedule.planned_slots(
            list(office.opening_periods),
            [c for c in office.closures if c.is_active],
            zone,
            office.slot_minutes,
            first_day,
            last_day,
        )
    )
    capacities = schedule.online_capacities(planned, office.walk_in_share, zone)
    window = (
        schedule.local_instant(first_day, time(0), zone),
        schedule.local_instant(last_day + timedelta(days=1), time(0), zone),
    )
    existing = {
        slot.starts_at: slot
        for slot in session.scalars(
            sa.select(Slot).where(
                Slot.office_id == office.id, Slot.starts_at >= window[0], Slot.starts_at < window[1]
            )
        )
    }
    days: dict[date, list[Slot]] = {}
    for plan_slot in planned:
        slot = existing.get(plan_slot.starts_at)
        if slot is None:
            slot = Slot(
                office=office,
                starts_at=plan_slot.starts_at,
                ends_at=plan_slot.ends_at,
                desks=plan_slot.desks,
                capacity=capacities[plan_slot.starts_at],
                booked=0,
            )
            session.add(slot)
        days.setdefault(plan_slot.starts_at.astimezone(zone).date(), []).append(slot)

    desks = list(
        session.scalars(
            sa.select(Desk).where(Desk.office_id == office.id, Desk.is_active.is_(True))
        )
    )
    desks.sort(key=lambda desk: (len(desk.name), desk.name))
    staff = sorted(
        session.scalars(sa.select(User).join(User.offices).where(Office.id == office.id)),
        key=lambda user: (ROLE_ORDER.get(Role(user.role), 3), user.id),
    )
    made = 0
    plans: list[_Day] = []
    for day, slots in days.items():
        plan = _Day(
            office=office,
            day=day,
            slots=slots,
            free=[max(0, slot.capacity - (slot.booked or 0)) for slot in slots],
            closing=schedule.local_instant(day, time(18), zone),
        )
        if desks:
            made += _book_day(rng, plan, services, desks, staff, policy, references)
            _walk_ins(rng, plan, services, desks, staff)
        plan.tickets.sort(key=lambda ticket: ticket.arrived_at)
        for number, ticket in enumerate(plan.tickets, start=1):
            ticket.number = number
            ticket.label = f"{office.ticket_prefix}-{number:03d}"
            session.add(ticket)
        if plan.tickets:
            session.add(
                TicketCounter(office_id=office.id, service_day=day, last_number=len(plan.tickets))
            )
        for appointment, _run, _release in plan.seats:
            session.add(appointment)
        plans.append(plan)
    session.flush()
    seats = [
        {
            "appointment_id": appointment.id,
            "slot_id": slot.id,
            # Served and missed visits keep their seats; a cancellation's or an expired
            # hold's seat went back on sale at its release time (another booking took it).
            "holds_seat": release_at is None,
            "release_at": release_at,
        }
        for plan in plans
        for appointment, run, release_at in plan.seats
        for slot in run
    ]
    if seats:
        session.execute(sa.insert(appointment_slot), seats)
    return made


def seed_history(session: SessionLike, now: datetime, days: int = HISTORY_DAYS) -> int:
    """Add the demo offices' visits of the `days` days before today (none if any appointment
    exists); returns how many appointments were made. Deterministic for a given `now`; the
    hold and release times come from the app's booking settings."""
    if session.scalar(sa.select(Appointment.id).limit(1)) is not None:
        return 0
    rng = random.Random(HISTORY_SEED)
    policy = policy_from_config(current_app.config)
    offices = session.scalars(
        sa.select(Office)
        .where(Office.code.in_([spec["code"] for spec in OFFICES]))
        .order_by(Office.id)
    ).all()
    services = {
        service.code: service
        for service in session.scalars(
            sa.select(ServiceType).where(ServiceType.code.in_([spec["code"] for spec in SERVICES]))
        )
    }
    references: set[str] = set()
    made = 0
    for office in offices:
        today = now.astimezone(office.zone).date()
        made += _office_history(
            session,
            rng,
            office,
            services,
            today - timedelta(days=days),
            today - timedelta(days=1),
            policy,
            references,
        )
    session.flush()
    return made
