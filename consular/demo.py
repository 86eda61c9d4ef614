"""Demo data: two offices, three services, hours, holidays, slots and staff accounts.

Addresses, phone numbers and hours are demo values, marked as such; administrators edit them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from consular.auth import hash_password
from consular.models import Desk, Office, OpeningPeriod, Role, ServiceType, User
from consular.services import schedule
from consular.services.catalog import set_combinations

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
            "kk": "Төлқұжатты ауыстыру",
            "ru": "Замена паспорта",
            "en": "Passport renewal / replacement",
            "ko": "여권 갱신 및 재발급",
        },
        "description": {
            "kk": "Мерзімі өтетін, бүлінген немесе жоғалған төлқұжаттың орнына жаңа төлқұжат ресімдеу.",
            "ru": "Оформление нового паспорта взамен истекающего, испорченного или утерянного.",
            "en": "A new passport in place of one that is expiring, damaged or lost.",
            "ko": "만료 예정이거나 훼손 또는 분실된 여권을 대신할 새 여권 발급.",
        },
        "documents": {
            "kk": [
                "Қазіргі төлқұжат (жоғалса — полицияның анықтамасы)",
                "Жеке куәлік немесе ЖСН көрсетілген құжат",
                "Кореядағы тұру мәртебесін растайтын құжат (ARC)",
                "Консулдық алымның төленгенін растайтын түбіртек",
            ],
            "ru": [
                "Действующий паспорт (при утере — справка из полиции)",
                "Удостоверение личности или документ с ИИН",
                "Документ о статусе пребывания в Корее (ARC)",
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
            "kk": "Консулдық алым кеңседе төленеді (демо мәтін).",
            "ru": "Консульский сбор оплачивается в отделе (демо-текст).",
            "en": "The consular fee is paid at the office (demo text).",
            "ko": "영사 수수료는 영사과에서 납부합니다 (데모 문구).",
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
            "ko": "혼인 신고 (국가 등록)",
        },
        "description": {
            "kk": "Екі жұбайдың қатысуымен некені тіркеу. Екеуі де келуі тиіс.",
            "ru": "Регистрация брака в присутствии обоих супругов. Приходят оба.",
            "en": "Registration of a marriage in the presence of both spouses. Both must attend.",
            "ko": "두 배우자가 모두 참석한 가운데 혼인을 등록합니다. 두 사람 모두 방문해야 합니다.",
        },
        "documents": {
            "kk": [
                "Екі жұбайдың төлқұжаттары",
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
            "kk": "Мемлекеттік баж кеңседе төленеді (демо мәтін).",
            "ru": "Государственная пошлина оплачивается в отделе (демо-текст).",
            "en": "The state duty is paid at the office (demo text).",
            "ko": "국가 수수료는 영사과에서 납부합니다 (데모 문구).",
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
            "ko": "자녀 출생 신고 (국가 등록)",
        },
        "description": {
            "kk": "Кореяда туған баланың тууын тіркеу және туу туралы куәлік беру.",
            "ru": "Регистрация рождения ребёнка, родившегося в Корее, и выдача свидетельства о рождении.",
            "en": "Registration of a child born in Korea and issue of the birth certificate.",
            "ko": "한국에서 태어난 자녀의 출생 등록 및 출생증명서 발급.",
        },
        "documents": {
            "kk": [
                "Ата-аналардың төлқұжаттары",
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


def _upsert_office(session: Session, spec: dict) -> Office:
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


def _upsert_service(session: Session, spec: dict, offices: list[Office]) -> ServiceType:
    service = session.scalar(sa.select(ServiceType).where(ServiceType.code == spec["code"]))
    if service is None:
        service = ServiceType(**spec, min_notice_hours=24, horizon_days=60, cutoff_hours=24)
        service.offices = list(offices)
        session.add(service)
    return service


def _ensure_account(
    session: Session, email: str, name: str, role: Role, offices: list[Office]
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


def seed(session: Session, now: datetime, horizon_days: int) -> list[tuple[str, str, str]]:
    """Create whatever demo data is missing; return the accounts created with their passwords."""
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
    if created:
        _remember_logins(created)
    return created


def _remember_logins(accounts: list[tuple[str, str, str]]) -> None:
    """Keep the demo logins in the instance folder so that `make run` can show them again."""
    path = Path(current_app.instance_path) / "demo-logins.txt"
    with path.open("a", encoding="utf-8") as handle:
        for email, password, role in accounts:
            handle.write(f"{role:8} {email}  password: {password}\n")
