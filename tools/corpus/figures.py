"""Every figure a story may quote, drawn once when the story is planned so that all outlets
covering it report the same numbers.

data/figures.yaml says how most figures are drawn and, by its order, when: each draw takes the
next numbers from the corpus's one random generator, so the order is part of the output. What
a table cannot say is here: the figures a story is built on (the company's quarter, its
dividend, who sues it, ...), drawn first; the few figures computed from others; and the slots
worded from all of them without a draw.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from typing import Any

from tools.corpus.world import FIGURES, OUTSIDERS, PEERS, SECTOR_COMPANIES, WORLD, Company, Event, Sector

SIGN = {"positive": 1, "negative": -1, "neutral": 0}
MONTHS: tuple[str, ...] = WORLD["months"]
RATING_SCALE: tuple[str, ...] = WORLD["rating_scale"]


def money(millions: float) -> str:
    if millions >= 1000:
        return f"${millions / 1000:.1f} billion"
    if millions >= 100:
        return f"${millions:.0f} million"
    return f"${millions:.1f} million"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def day(date: dt.datetime) -> str:
    return f"{MONTHS[date.month - 1]} {date.day}"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def pct(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 1)


def person(rng: random.Random) -> str:
    return f"{rng.choice(WORLD['first_names'])} {rng.choice(WORLD['last_names'])}"


def quarter_slots(when: dt.datetime) -> dict[str, Any]:
    # Results published in a quarter are for the quarter before it.
    index = (when.month - 1) // 3 - 1
    year = when.year
    if index < 0:
        index, year = 3, year - 1
    quarters = WORLD["quarters"]
    return {
        "q": f"{quarters[index]}-quarter",
        "qn": f"{quarters[index]} quarter",
        "qs": f"Q{index + 1}",
        "fy": year,
        "fy_prev": year - 1,
        "nq": f"{quarters[(index + 1) % 4]} quarter",
        "month": MONTHS[(when.month - 2) % 12],
        "season": WORLD["seasons"][index],
    }


class Figures:
    """One story's figures as they are drawn: ``slots`` fill its templates, ``basis`` holds the
    unworded numbers other figures are drawn from. The common table is drawn first."""

    def __init__(
        self,
        rng: random.Random,
        when: dt.datetime,
        tone: str,
        sector: Sector,
        company: Company | None = None,
        event: Event | None = None,
    ) -> None:
        self.rng, self.when, self.tone, self.sign = rng, when, tone, SIGN[tone]
        self.sector, self.company, self.event = sector, company, event
        self.basis: dict[str, Any] = {}
        self.slots: dict[str, Any] = quarter_slots(when)
        self.draw("common")

    def draw(self, table: str) -> None:
        for slot, drawer in TABLES[table]:
            self.slots[slot] = drawer(self)

    def with_product(self, text: Any) -> Any:
        """A text naming {product} gets a product of the sector, drawn for it alone."""
        if isinstance(text, str) and "{product}" in text:
            return text.format(product=self.rng.choice(self.sector.products))
        return text


def _free_cash_flow(f: Figures) -> str:
    f.basis["fcf"] = f.basis["quarter_revenue"] * f.rng.uniform(0.05, 0.2)
    return money(f.basis["fcf"])


def _new_product(f: Figures) -> str:
    name = f.rng.choice(WORLD["model_names"])
    if f.sector.numbered_models:
        return f"{name} {f.rng.randint(2, 9)} {f.basis['new_kind']}"
    return f"{name} {f.basis['new_kind']}"


# The figures data/figures.yaml marks `computed`, by slot.
COMPUTED: dict[str, Callable[[Figures], Any]] = {
    "close_year": lambda f: f.when.year + f.rng.randint(0, 1),
    "margin_prev": lambda f: round(f.basis["margin"] - f.sign * f.rng.uniform(0.5, 4.0), 1),
    "fcf": _free_cash_flow,
    "fcf_prev": lambda f: money(f.basis["fcf"] / (1 + f.sign * f.rng.uniform(0.08, 0.4))),
    "guid_hi": lambda f: money(f.basis["guidance"] * f.rng.uniform(1.02, 1.06)),
    "eps_g_hi": lambda f: f"{f.basis['eps_guidance'] * f.rng.uniform(1.03, 1.08):.2f}",
    # Fines grow with the company, from the revenue of a $10 billion one up.
    "fine": lambda f: money(f.rng.uniform(5, 60) * max(1.0, f.company.revenue_bn / 10)),
    "viol_year": lambda f: f.when.year - f.rng.randint(1, 4),
    "new_product": _new_product,
    "launch_month": lambda f: MONTHS[(f.when.month + f.rng.randint(0, 3)) % 12],
    "conference": lambda f: f"the {f.rng.choice(WORLD['brokers'])} {f.sector.adj} conference",
    "ipo_hi": lambda f: f.slots["ipo_lo"] + f.rng.randint(2, 5),
    "coupon": lambda f: f"{f.rng.uniform(3.9, 7.8):.3f}".rstrip("0"),
    "cpi": lambda f: round(f.slots["cpi_est"] + f.sign * -f.rng.uniform(0.2, 0.6), 1) if f.sign else f.slots["cpi_est"],
    "oil": lambda f: f.rng.randint(*FIGURES["crude_prices"].get(f.event.key, FIGURES["crude_prices"]["default"])),
}


FORMATS: dict[str | None, Callable[[Any], Any]] = {
    None: lambda number: number,
    "money": money,
    "thousands": "{:,}".format,
}


def _drawer(slot: str, how: Any) -> Callable[[Figures], Any]:
    """One entry of data/figures.yaml (its header says what each kind means), as a function of
    the story being drawn. Built once, at import: a table that cannot be drawn fails there."""
    if how == "computed":
        return COMPUTED[slot]
    if not isinstance(how, dict):
        raise ValueError(f"data/figures.yaml: {slot}: no way to draw {how!r}")
    if "by_tone" in how:
        by_tone = {tone: _drawer(slot, spec) for tone, spec in how["by_tone"].items()}
        return lambda f: by_tone[f.tone](f)
    if "value" in how:
        return lambda f: how["value"]
    if "person" in how:
        return lambda f: person(f.rng)
    if "date" in how:
        return lambda f: day(f.when + dt.timedelta(days=f.rng.randint(*how["date"])))
    if "pct" in how:
        return lambda f: pct(f.rng, *how["pct"])
    if "pick" in how:
        options = _options(how["pick"])

        def draw(f: Figures) -> Any:
            choices = options(f)
            return f.rng.choice(choices) if choices else how["else"]

    elif "uniform" in how:

        def draw(f: Figures) -> Any:
            return f.rng.uniform(*how["uniform"])

    elif "int" in how:

        def draw(f: Figures) -> Any:
            return f.rng.randint(*how["int"])

    else:
        raise ValueError(f"data/figures.yaml: {slot}: no way to draw {how!r}")
    times, worded = how.get("times"), FORMATS[how.get("as")]
    if times is None:
        return lambda f: worded(draw(f))
    if isinstance(times, str):
        return lambda f: worded(draw(f) * f.basis[times])
    return lambda f: worded(draw(f) * times)


def _options(pick: str | tuple[Any, ...]) -> Callable[[Figures], Sequence[Any]]:
    if isinstance(pick, str):
        owner, _, name = pick.rpartition(".")
        return (lambda f: getattr(f.sector, name)) if owner == "sector" else (lambda f: WORLD[name])
    if any(isinstance(option, str) and "{product}" in option for option in pick):
        return lambda f: [f.with_product(option) for option in pick]
    return lambda f: pick


TABLES = {
    table: [(slot, _drawer(slot, how)) for entry in FIGURES[table] for slot, how in entry.items()]
    for table in ("common", "company", "macro")
}


def company_figures(
    rng: random.Random, company: Company, sector: Sector, when: dt.datetime, tone: str
) -> dict[str, Any]:
    """The slots of a story about ``company``: the figures it is built on, then its table."""
    f = Figures(rng, when, tone, sector, company)
    sign = f.sign
    revenue = company.revenue_bn * 1000  # millions, as all amounts are
    quarter = company.revenue_bn * 250 * rng.uniform(0.85, 1.15)
    consensus = round(company.eps * rng.uniform(0.7, 1.3) / 4 + 0.05, 2)
    surprise = rng.uniform(0.04, 0.3) * sign
    margin = pct(rng, 14, 58)
    dividend = round(rng.uniform(0.12, 1.6), 2)
    change = rng.uniform(0.05, 0.25) if sign >= 0 else -rng.uniform(0.25, 0.6)
    new_dividend = max(0.01, round(dividend * (1 + change), 2))
    guidance = revenue * rng.uniform(0.95, 1.15)
    eps_guidance = round(company.eps * rng.uniform(0.85, 1.15), 2)
    rating = rng.randrange(1, len(RATING_SCALE) - 1)
    price_target = round(rng.uniform(25, 320))
    target_change = rng.uniform(0.1, 0.35)
    if rng.random() < 0.35:  # a listed peer, otherwise a private company of the sector
        target = rng.choice(PEERS[company.name]).name
    else:
        target = f"{rng.choice(WORLD['private_name_heads'])} {rng.choice(sector.private_names)}"
    plaintiff, claim = _lawsuit(f)
    if sector.customers and rng.random() < 0.7:
        customer = rng.choice(sector.customers)
    else:
        customer = rng.choice(OUTSIDERS[company.sector]).name
    cat_event = rng.choice(FIGURES["catastrophes"])
    recall_item = rng.choice(sector.recall_items) if sector.recall_items else "products"
    new_kind = rng.choice(sector.new_kinds)
    drug = rng.choice(WORLD["drug_name_heads"]) + rng.choice(WORLD["drug_name_tails"])
    jobs_pct = pct(rng, 2, 12)
    f.basis.update(
        revenue=revenue,
        quarter_revenue=quarter,
        margin=margin,
        guidance=guidance,
        eps_guidance=eps_guidance,
        new_kind=new_kind,
    )
    f.draw("company")
    slots = f.slots
    slots.update(
        co=company.name,
        tk=company.ticker,
        hq=company.hq,
        noun=sector.noun,
        snouns=sector.nouns,
        employees=f"{company.employees:,}",
        rev=money(quarter * (1 + surprise / 3)),
        eps_est=f"{consensus:.2f}",
        eps=f"{max(0.01, consensus * (1 + surprise)):.2f}",
        margin=margin,
        op_profit=money(quarter * margin / 100 * 0.55),
        guid_lo=money(guidance),
        eps_g_lo=f"{eps_guidance:.2f}",
        div_old=f"{dividend:.2f}",
        div_new=f"{new_dividend:.2f}",
        div_pct=max(1, round(abs(new_dividend / dividend - 1) * 100)),
        streak_ord=ordinal(slots["streak"]),
        target=target,
        jobs=f"{max(100, int(company.employees * jobs_pct / 100) // 50 * 50):,}",
        jobs_pct=jobs_pct,
        regulator=sector.regulator,
        market_regulator=WORLD["market_regulator"],
        plaintiff=plaintiff,
        plaintiff_cap=cap(plaintiff),
        claim=claim,
        rating_from=RATING_SCALE[rating],
        rating_to=RATING_SCALE[rating - 1 if sign > 0 else rating + 1],
        pt_old=price_target,
        pt_new=round(price_target * (1 + target_change) if sign >= 0 else price_target * (1 - target_change)),
        customer=customer,
        customer_cap=cap(customer),
        drug=drug,
        service=sector.service,
        recall_item=recall_item,
        cat_event=cat_event,
        cat_event_cap=cap(cat_event),
        metric=sector.sales_metric,
        maturity=when.year + slots["maturity_years"],
    )
    return slots


def _lawsuit(f: Figures) -> tuple[str, str]:
    """Who sues, and over what."""
    if f.rng.random() < 0.25:
        return f.rng.choice(PEERS[f.company.name]).name, f.rng.choice(FIGURES["rival_claims"])
    return f.rng.choice([(suit["plaintiff"], f.with_product(suit["claim"])) for suit in FIGURES["lawsuits"]])


def macro_figures(
    rng: random.Random, event: Event, sector: Sector, when: dt.datetime
) -> tuple[dict[str, Any], list[str]]:
    """The slots of an economy-wide story told through ``sector``, and the two companies it names."""
    f = Figures(rng, when, event.tone, sector, event=event)
    bank = rng.choice(WORLD["central_banks"])
    peers = SECTOR_COMPANIES[sector.key]
    co1 = rng.choices(peers, [c.weight for c in peers])[0]
    co2 = rng.choice([c for c in peers if c is not co1])
    rate = round(rng.uniform(1.5, 5.5) * 4) / 4
    f.draw("macro")
    slots = f.slots
    step = slots["bp"] / 100 if event.tone == "negative" else -slots["bp"] / 100
    slots.update(
        bank,
        cb_short_cap=cap(bank["cb_short"]),
        ccy_cap=cap(bank["ccy"]),
        snouns=sector.nouns,
        snouns_cap=cap(sector.nouns),
        co=co1.name,
        co1=co1.name,
        co2=co2.name,
        rate_old=f"{rate:.2f}",
        rate_new=f"{rate + step:.2f}",
        goods=sector.goods,
    )
    return slots, [co1.name, co2.name]
