"""The invented world, read from the YAML files in data/: sectors and their companies, outlets,
people and institutions, the events stories are about and the prose they are written in."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).with_name("data")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML with sequences read as tuples: the world is constant."""


_Loader.add_constructor("tag:yaml.org,2002:seq", lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))


def load(name: str) -> Any:
    with (DATA / f"{name}.yaml").open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)


@dataclass(frozen=True)
class Sector:
    """A sector of the invented economy; data/sectors.yaml says what each field holds."""

    key: str
    theme: str
    noun: str
    nouns: str
    adj: str
    weight: float
    revenue_bn: float
    companies: tuple[tuple[str, str, str], ...]  # (name, ticker, headquarters)
    products: tuple[str, ...]
    drivers: tuple[str, ...]
    context: tuple[str, ...]
    violations: tuple[str, ...]
    regulator: str
    units: tuple[str, ...]
    private_names: tuple[str, ...]
    places: tuple[str, ...]
    new_kinds: tuple[str, ...]
    facilities: tuple[str, ...]
    customers: tuple[str, ...]
    sales_metric: str
    recall_items: tuple[str, ...]
    defects: tuple[str, ...]
    inputs: tuple[str, ...]
    systems: tuple[str, ...]
    service: str
    indications: tuple[str, ...]
    goods: str
    numbered_models: bool


@dataclass(frozen=True)
class Company:
    name: str
    ticker: str
    sector: str
    hq: str
    weight: float
    revenue_bn: float
    employees: int
    eps: float


@dataclass(frozen=True)
class Event:
    """What a story is about; data/company_events.yaml says what each field holds."""

    key: str
    tone: str
    themes: tuple[str, ...]
    noun: str
    titles: tuple[str, ...]
    leads: tuple[str, ...]
    details: tuple[str, ...]
    sectors: tuple[str, ...] | None = None  # None: any sector; for macro events, a repeat weights the draw
    weight: float = 1.0
    press_release: bool = True
    filing: bool = False
    macro: str | None = None  # macro topic, for economy-wide events
    analysis: bool = True


WORLD: dict[str, Any] = load("world")
PROSE: dict[str, Any] = load("prose")
FIGURES: dict[str, Any] = load("figures")


def _sectors() -> tuple[Sector, ...]:
    data = load("sectors")
    return tuple(
        Sector(**{**data["defaults"], "places": WORLD["places"], "new_kinds": entry["products"], **entry})
        for entry in data["sectors"]
    )


SECTORS = _sectors()
SECTOR_BY_KEY = {sector.key: sector for sector in SECTORS}


def _companies() -> tuple[Company, ...]:
    companies = []
    for sector in SECTORS:
        for rank, (name, ticker, hq) in enumerate(sector.companies):
            # Coverage follows size, as it does in real news: the first company listed in each
            # sector is its bellwether. crc32 keeps the figures stable across Python versions.
            size = random.Random(zlib.crc32(name.encode()))
            revenue = sector.revenue_bn / (rank + 1) ** 0.9 * size.uniform(0.8, 1.2)
            companies.append(
                Company(
                    name=name,
                    ticker=ticker,
                    sector=sector.key,
                    hq=hq,
                    weight=sector.weight / (rank + 1) ** 0.6,
                    revenue_bn=round(revenue, 2),
                    employees=int(revenue * size.uniform(600, 2800) // 100 * 100) + 300,
                    eps=round(size.uniform(0.4, 4.5), 2),
                )
            )
    return tuple(companies)


COMPANIES = _companies()
COMPANY_BY_NAME = {company.name: company for company in COMPANIES}
SECTOR_COMPANIES = {s.key: tuple(c for c in COMPANIES if c.sector == s.key) for s in SECTORS}
# Peers and outsiders per company, built once: rebuilding them per story was half the run time.
PEERS = {c.name: tuple(p for p in SECTOR_COMPANIES[c.sector] if p is not c) for c in COMPANIES}
OUTSIDERS = {s.key: tuple(c for c in COMPANIES if c.sector != s.key) for s in SECTORS}


def _events(data: dict[str, Any]) -> tuple[Event, ...]:
    groups = data.get("sector_groups", {})

    def sectors(spec: Any) -> tuple[str, ...] | None:
        spec = groups[spec] if isinstance(spec, str) else spec
        if isinstance(spec, dict):
            return tuple(s.key for s in SECTORS if s.key not in spec["all_but"])
        return spec

    return tuple(Event(**{**entry, "sectors": sectors(entry.get("sectors"))}) for entry in data["events"])


_COMPANY_EVENTS_FILE = load("company_events")
COMPANY_EVENTS = _events(_COMPANY_EVENTS_FILE)
MACRO_EVENTS = _events(load("macro_events"))
EVENT_BY_KEY = {event.key: event for event in COMPANY_EVENTS + MACRO_EVENTS}
# A story that leads to a later one: event key -> (the follow-up's event key, chance).
FOLLOW_UPS: dict[str, tuple[str, float]] = {
    key: (follow["event"], follow["chance"]) for key, follow in _COMPANY_EVENTS_FILE["follow_ups"].items()
}
FOLLOW_UP_FACTS: tuple[str, ...] = _COMPANY_EVENTS_FILE["follow_up_facts"]
FOLLOW_UP_DAYS: tuple[int, int] = _COMPANY_EVENTS_FILE["follow_up_days"]

# Kinds of item: their share of the corpus and how they shift an outlet's quality.
DOC_TYPES: tuple[str, ...] = tuple(WORLD["doc_types"])
DOC_TYPE_WEIGHTS = {doc_type: kind["share"] for doc_type, kind in WORLD["doc_types"].items()}
DOC_TYPE_QUALITY = {doc_type: kind["quality"] for doc_type, kind in WORLD["doc_types"].items()}
# Outlets as (name, url slug, house quality), and how much each publishes of each kind of item.
SOURCES: tuple[tuple[str, str, float], ...] = tuple((o["name"], o["slug"], o["quality"]) for o in WORLD["outlets"])
SOURCE_WEIGHTS = {doc_type: tuple(o["publishes"][doc_type] for o in WORLD["outlets"]) for doc_type in DOC_TYPES}
