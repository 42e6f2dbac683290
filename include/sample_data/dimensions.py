"""The sample dimension data: one source for the seed SQL and for the sales generator.

``include/sql/schema/010_seed_dimensions.sql`` is written from this module
(``python -m include.sample_data.generate --write-seed-sql``); a test checks they agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

STORE_IDS = (121, 122, 123, 124)
CUSTOMER_COUNT = 250
SALES_PEOPLE_PER_STORE = 3  # plus one manager per store

FIRST_NAMES = (
    "Aarav",
    "Vivaan",
    "Aditya",
    "Vihaan",
    "Arjun",
    "Sai",
    "Reyansh",
    "Ayaan",
    "Krishna",
    "Ishaan",
    "Ananya",
    "Diya",
    "Saanvi",
    "Aadhya",
    "Pari",
    "Anika",
    "Navya",
    "Myra",
    "Sara",
    "Kiara",
)
LAST_NAMES = (
    "Sharma",
    "Verma",
    "Gupta",
    "Singh",
    "Kumar",
    "Patel",
    "Reddy",
    "Iyer",
    "Nair",
    "Das",
    "Mehta",
    "Joshi",
    "Rao",
    "Bose",
    "Chopra",
)
STREETS = ("MG Road", "Park Street", "Linking Road", "Brigade Road", "Anna Salai", "FC Road")
CITIES = (("Delhi", "1100"), ("Mumbai", "4000"), ("Bengaluru", "5600"), ("Chennai", "6000"))

PRODUCTS: tuple[tuple[int, str, Decimal], ...] = (
    (1, "quaker oats", Decimal("212.00")),
    (2, "sugar", Decimal("50.00")),
    (3, "maida", Decimal("20.00")),
    (4, "besan", Decimal("52.00")),
    (5, "refined oil", Decimal("110.00")),
    (6, "clinic plus", Decimal("1.50")),
    (7, "dantkanti", Decimal("100.00")),
    (8, "nutrella", Decimal("40.00")),
    (9, "basmati rice", Decimal("145.75")),
    (10, "toor dal", Decimal("132.40")),
    (11, "green tea", Decimal("289.99")),
    (12, "biscuits", Decimal("10.00")),
)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    first_name: str
    last_name: str
    address: str
    pincode: str
    phone_number: str
    customer_joining_date: date


@dataclass(frozen=True)
class Store:
    id: int
    address: str
    store_pincode: str
    store_manager_name: str
    store_opening_date: date
    reviews: str


@dataclass(frozen=True)
class SalesPerson:
    id: int
    first_name: str
    last_name: str
    manager_id: int | None
    is_manager: str
    address: str
    pincode: str
    joining_date: date
    store_id: int


def _address(rng: random.Random) -> tuple[str, str]:
    city, pin = rng.choice(CITIES)
    return f"{rng.randint(1, 400)} {rng.choice(STREETS)}, {city}", f"{pin}{rng.randint(10, 99)}"


def _day(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


def customers() -> list[Customer]:
    rng = random.Random(1001)
    result = []
    for customer_id in range(1, CUSTOMER_COUNT + 1):
        address, pincode = _address(rng)
        result.append(
            Customer(
                customer_id,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                address,
                pincode,
                f"9{rng.randint(100000000, 999999999)}",
                _day(rng, date(2020, 1, 1), 1200),
            )
        )
    return result


def sales_team() -> list[SalesPerson]:
    rng = random.Random(2002)
    team: list[SalesPerson] = []
    next_id = 1
    for store_id in STORE_IDS:
        manager_id = next_id
        for position in range(SALES_PEOPLE_PER_STORE + 1):
            address, pincode = _address(rng)
            team.append(
                SalesPerson(
                    next_id,
                    rng.choice(FIRST_NAMES),
                    rng.choice(LAST_NAMES),
                    None if position == 0 else manager_id,
                    "Y" if position == 0 else "N",
                    address,
                    pincode,
                    _day(rng, date(2019, 1, 1), 900),
                    store_id,
                )
            )
            next_id += 1
    return team


def stores() -> list[Store]:
    rng = random.Random(3003)
    managers = {p.store_id: p for p in sales_team() if p.is_manager == "Y"}
    result = []
    for store_id in STORE_IDS:
        address, pincode = _address(rng)
        manager = managers[store_id]
        result.append(
            Store(
                store_id,
                address,
                pincode,
                f"{manager.first_name} {manager.last_name}",
                _day(rng, date(2018, 1, 1), 700),
                rng.choice(("Great service", "Clean and tidy", "Long queues", "Friendly staff")),
            )
        )
    return result


def sales_people_by_store() -> dict[int, list[int]]:
    """The (non-manager) sales people who sell in each store."""
    result: dict[int, list[int]] = {store_id: [] for store_id in STORE_IDS}
    for person in sales_team():
        if person.is_manager == "N":
            result[person.store_id].append(person.id)
    return result
