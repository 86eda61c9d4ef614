"""The bot simulation's pure pieces (bench/bots.py): what the bot makes up is valid, its
addresses span many networks, the summaries count right, and the bench office has the seats
it says. No server is started and nothing is timed: `python -m bench.bots` is the run."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from bench import bots
from bench.build import made_up_iins
from consular.clients import network_of
from consular.services.fair_access import email_domain, normalized_email
from consular.services.identity import normalize_email, normalize_phone, parse_iin
from tests.databases import REDIS_URL, missing_service, postgres_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def services() -> None:
    """The bench needs PostgreSQL and Redis; so do these tests, as its pattern says."""
    import redis

    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as connection:
            connection.ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")


def test_the_bots_identities_are_valid_and_distinct() -> None:
    rng = random.Random(3)
    iins = made_up_iins(12)
    people = [bots.made_up_person(rng, iins, bots.bot_email(n, False)) for n in range(500)]
    assert all(parse_iin(p.iin) is not None for p in people)
    assert len({p.iin for p in people}) == 500
    assert all(normalize_phone(p.phone) is not None for p in people)
    assert all(len(p.passport_number) == 9 and p.passport_number[0] == "N" for p in people)
    assert all(normalize_email(p.email) == p.email for p in people)
    # Every address is another mailbox, all at the one private domain the quotas count.
    assert len({normalized_email(p.email) for p in people}) == 500
    assert {email_domain(p.email) for p in people} == {bots.BOT_DOMAIN}


def test_with_subdomains_the_bots_addresses_still_count_as_its_one_domain() -> None:
    addresses = [bots.bot_email(n, True) for n in range(1, 101)]
    assert len({a.rpartition("@")[2] for a in addresses}) == 100
    assert {email_domain(a) for a in addresses} == {bots.BOT_DOMAIN}
    assert all(bots.is_bot_email(a) for a in addresses)
    assert not bots.is_bot_email("someone@gmail.com")
    assert not bots.is_bot_email(f"someone@not{bots.BOT_DOMAIN}")


def test_the_people_write_from_public_providers_and_their_own_networks() -> None:
    crowd = bots.scripted_people(11)
    assert len(crowd) == bots.PEOPLE
    assert all(email_domain(p.email) in bots.PUBLIC_PROVIDERS for _a, p in crowd)
    assert all(parse_iin(p.iin) is not None for _a, p in crowd)
    networks = {network_of(address) for address, _p in crowd}
    assert len(networks) == bots.PEOPLE
    assert networks.isdisjoint(network_of(a) for a in bots.bot_addresses())


def test_the_bots_addresses_span_50_networks_on_the_loopback() -> None:
    addresses = bots.bot_addresses()
    assert len(set(addresses)) == bots.BOT_NETWORKS * bots.BOT_ADDRESSES_PER_NETWORK
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    assert len({network_of(a) for a in addresses}) == bots.BOT_NETWORKS
    # Taken in turn, every network is used once before any is used again.
    first_round = addresses[: bots.BOT_NETWORKS]
    assert len({network_of(a) for a in first_round}) == bots.BOT_NETWORKS
    # The server's own address (127.0.0.1) is in none of them.
    assert network_of("127.0.0.1") not in {network_of(a) for a in addresses}


def test_a_forged_forwarded_for_is_an_address() -> None:
    rng = random.Random(1)
    forged = {bots.forged_forwarded_for(rng) for _ in range(100)}
    assert len(forged) > 90
    assert all(ipaddress.ip_address(a).version == 4 for a in forged)


def test_the_code_is_read_from_the_email_text() -> None:
    assert bots.code_in("Your code is: 042917. Reference BSN-234567") == "042917"
    assert bots.code_in("Reference BSN-234567 only") is None


def test_ten_working_days_skip_the_weekend() -> None:
    days = bots.working_days(date(2026, 12, 2))  # a Wednesday
    assert len(days) == 10 and days[0] == date(2026, 12, 3) and days[-1] == date(2026, 12, 16)
    assert all(day.weekday() < 5 for day in days)


def test_the_first_come_summary() -> None:
    summary = bots.FirstComeSummary(seats=240, proxy="nginx", bot_booked=5, people_booked=20)
    summary.bot_outcomes = Counter({"held (201)": 5, "quota_reached (409)": 30})
    assert summary.bot_share == pytest.approx(5 / 240)
    assert summary.passed
    text = summary.markdown()
    assert "| of which refused | 30 |" in text and "2.1%" in text and "**PASS**" in text

    assert not bots.FirstComeSummary(seats=240, proxy="", bot_booked=12, people_booked=20).passed
    assert not bots.FirstComeSummary(seats=240, proxy="", bot_booked=0, people_booked=19).passed


def test_the_draw_allowance() -> None:
    # 1,000 entries, half the bot's, 240 seats: sd of the share sqrt(.25/240 * 760/999).
    expected = 3 * (0.25 / 240 * 760 / 999) ** 0.5 + 1 / 240
    assert bots.draw_allowance(1000, 500, 240) == pytest.approx(expected)
    # Every entry served: the shares are the same but for rounding.
    assert bots.draw_allowance(100, 80, 100) == pytest.approx(0.01)
    assert bots.draw_allowance(0, 0, 0) == 0


def test_the_lottery_summary() -> None:
    fair = bots.LotterySummary(
        seats=240, proxy="", bot_entries=80, people_entries=20, bot_offers=80, people_offers=20
    )
    fair.bot_booked, fair.people_booked = 80, 20
    assert fair.everyone_fits and fair.bot_entry_share == pytest.approx(0.8)
    assert fair.bot_seat_share == pytest.approx(0.8) and fair.passed

    flooded = bots.LotterySummary(
        seats=240, proxy="", bot_entries=1000, people_entries=20, bot_offers=236, people_offers=4
    )
    flooded.people_booked = 4
    assert flooded.draw_passes and flooded.people_pass  # fair draw, seats too few for all
    assert not flooded.everyone_served and not flooded.passed  # but issue 11's target fails
    assert "FAIL (4/20)" in flooded.markdown()

    rigged = bots.LotterySummary(
        seats=240, proxy="", bot_entries=500, people_entries=500, bot_offers=200, people_offers=40
    )
    assert not rigged.draw_passes


def test_the_bench_office_has_the_seats_it_announces() -> None:
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # Wednesday 13:00 in Busan
    with postgres_database() as url:
        office = bots.fill_database(url, now)
    assert office.days == bots.working_days(date(2026, 12, 2))
    per_day = bots.DESKS * sum(
        (closes.hour - opens.hour) * 60 // bots.SLOT_MINUTES for opens, closes in bots.PERIODS
    )
    assert office.seats == bots.WORKING_DAYS * per_day == 240
