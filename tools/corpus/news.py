"""The generator: plans stories, has outlets write them up, and keeps each record's hidden labels."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from tools.corpus.figures import cap, company_figures, day, macro_figures, person
from tools.corpus.world import (
    COMPANIES,
    COMPANY_BY_NAME,
    COMPANY_EVENTS,
    DOC_TYPE_QUALITY,
    DOC_TYPE_WEIGHTS,
    DOC_TYPES,
    EVENT_BY_KEY,
    FOLLOW_UP_DAYS,
    FOLLOW_UP_FACTS,
    FOLLOW_UPS,
    MACRO_EVENTS,
    PROSE,
    SECTOR_BY_KEY,
    SOURCE_WEIGHTS,
    SOURCES,
    WORLD,
    Event,
    Sector,
)

START = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # exclusive: the last day is 2026-10-31

TONES = ("positive", "negative", "neutral")
# Roughly 35/35/30, so a sentiment model sees all three classes in useful numbers.
TONE_WEIGHTS = (0.35, 0.35, 0.30)
MACRO_SHARE = 0.2


@dataclass(frozen=True)
class Labels:
    """What a record was generated from. Never written into the record."""

    kind: str  # "company" or "macro"
    sector: str  # the company's sector, or the sector a macro story features
    company: str | None  # the subject company; None for macro stories
    event: str
    tone: str
    macro: str | None  # macro topic (interest_rates, inflation, ...); None for company stories
    mentions: tuple[str, ...] = ()  # every company named in the text, subject first
    story: int = 0  # articles about the same event share a story number

    def matches(self, criteria: Mapping[str, object]) -> bool:
        """True when every criterion holds. A list means any of its values; ``mentions``
        holds when any of the named companies appears anywhere in the text."""
        for key, wanted in criteria.items():
            allowed = wanted if isinstance(wanted, (list, tuple)) else (wanted,)
            if key == "mentions":
                if not any(name in self.mentions for name in allowed):
                    return False
            elif getattr(self, key) not in allowed:
                return False
        return True


@dataclass
class _Story:
    labels: Labels
    event: Event
    ctx: dict[str, object]
    companies: list[str]  # listed companies the story may name, subject first
    organizations: list[str]  # other organisations it may name
    themes: list[str]
    sector: Sector
    used_sources: list[str] = field(default_factory=list)
    used_titles: list[int] = field(default_factory=list)


def _possessives(text: str, names: Iterable[str]) -> str:
    """House style: a name that ends in s takes a bare apostrophe (Northwind Semiconductors')."""
    for name in names:
        if name.endswith("s"):
            text = text.replace(name + "'s", name + "'")
    return text


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


class _Generator:
    """One pass over a corpus. Kept as a class so the per-story choices share one RNG."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.rng = random.Random(seed)
        self.company_weights = [c.weight for c in COMPANIES]
        self.events_by_tone = {tone: [e for e in COMPANY_EVENTS if e.tone == tone] for tone in TONES}
        self.macro_by_tone = {tone: [e for e in MACRO_EVENTS if e.tone == tone] for tone in TONES}

    def published(self, index: int) -> dt.datetime:
        # Stratified over the two years: item i lands in the i-th slice, so any count covers the
        # whole range, ids run in date order, and nothing has to be sorted in memory.
        span = (END - START).total_seconds()
        offset = span * (index + self.rng.random()) / self.count
        return (START + dt.timedelta(seconds=int(offset))).replace(microsecond=0)

    def plan(
        self, story_no: int, when: dt.datetime, follow: tuple[str, str, dict[str, object]] | None = None
    ) -> _Story:
        """Choose what the next story is about. ``follow`` is (company, event, carried facts)
        for a follow-up of an earlier story."""
        rng = self.rng
        if follow is not None:
            company, event = COMPANY_BY_NAME[follow[0]], EVENT_BY_KEY[follow[1]]
            tone = event.tone
        else:
            tone = rng.choices(TONES, TONE_WEIGHTS)[0]
            if rng.random() < MACRO_SHARE:
                event = rng.choices(self.macro_by_tone[tone], [e.weight for e in self.macro_by_tone[tone]])[0]
                sector = SECTOR_BY_KEY[rng.choice(event.sectors)]
                ctx, named = macro_figures(rng, event, sector, when)
                labels = Labels("macro", sector.key, None, event.key, tone, event.macro, (), story_no)
                orgs = [str(ctx["cb"]), str(ctx["stats"])]
                themes = [*event.themes, sector.theme, "macro"]
                return _Story(labels, event, ctx, named, orgs, themes, sector)
            company = rng.choices(COMPANIES, self.company_weights)[0]
            options = [e for e in self.events_by_tone[tone] if e.sectors is None or company.sector in e.sectors]
            event = rng.choices(options, [e.weight for e in options])[0]
        sector = SECTOR_BY_KEY[company.sector]
        ctx = company_figures(rng, company, sector, when, tone)
        if follow is not None:
            ctx.update(follow[2])
        named = [str(ctx[slot]) for slot in ("target", "plaintiff", "customer") if ctx[slot] in COMPANY_BY_NAME]
        orgs = [
            sector.regulator,
            str(ctx["market_regulator"]),
            str(ctx["agency"]),
            str(ctx["broker"]),
            str(ctx["target"]),
        ]
        labels = Labels("company", sector.key, company.name, event.key, tone, None, (company.name,), story_no)
        themes = [*event.themes, sector.theme]
        return _Story(labels, event, ctx, [company.name, *named], orgs, themes, sector)

    @staticmethod
    def named_in(story: _Story, text: str) -> tuple[tuple[str, ...], list[str]]:
        """Companies and organisations this particular article names. Outlets covering the same
        story quote different sentences, so each article is tagged by what it actually says."""
        companies = tuple(dict.fromkeys(name for name in story.companies if name in text))
        others = [name for name in dict.fromkeys(story.organizations) if name in text and name not in companies]
        return companies, [*companies, *others]

    def pick_source(self, story: _Story, doc_type: str) -> tuple[str, str, float]:
        weights = list(SOURCE_WEIGHTS[doc_type])
        # Different outlets cover the same story; fall back to repeats only when none is left.
        fresh = [w if SOURCES[i][0] not in story.used_sources else 0 for i, w in enumerate(weights)]
        if any(fresh):
            weights = fresh
        source = self.rng.choices(SOURCES, weights)[0]
        story.used_sources.append(source[0])
        return source

    def pick_doc_type(self, story: _Story) -> str:
        event = story.event
        weights = []
        for doc_type in DOC_TYPES:
            allowed = not (
                (doc_type == "press_release" and (event.macro or not event.press_release))
                or (doc_type == "filing_summary" and (event.macro or not event.filing))
                or (doc_type == "analysis" and not event.analysis)
            )
            weights.append(DOC_TYPE_WEIGHTS[doc_type] if allowed else 0.0)
        return self.rng.choices(DOC_TYPES, weights)[0]

    def title(self, story: _Story, doc_type: str) -> str:
        rng, event, ctx = self.rng, story.event, story.ctx
        choices = [i for i in range(len(event.titles)) if i not in story.used_titles] or list(range(len(event.titles)))
        index = rng.choice(choices)
        story.used_titles.append(index)
        headline = cap(event.titles[index].format_map(ctx))
        roll = rng.random()
        variants = PROSE["headline_variants"].get(doc_type)
        if variants is None or roll >= variants["chance"]:
            return headline
        words = {
            "headline": headline,
            "subject": ctx["snouns"] if event.macro else ctx["co"],
            "event_noun": event.noun,
            "event_noun_cap": cap(event.noun),
            "move_verb": PROSE["move_verbs"][event.tone].format_map(ctx),
        }
        return cap(rng.choice(variants["macro" if event.macro else "company"]).format_map(ChainMap(words, ctx)))

    def body_and_summary(self, story: _Story, doc_type: str, when: dt.datetime) -> tuple[str, str]:
        rng, event, ctx, tone = self.rng, story.event, story.ctx, story.event.tone
        # The summary opens with a lead that names the company (or, for macro, any lead), so the
        # title-plus-summary text that gets embedded always says who the story is about.
        leads = list(event.leads)
        rng.shuffle(leads)
        leads.sort(key=lambda lead: not event.macro and "{co}" not in lead)
        summary_lead = leads[0].format_map(ctx)
        body_lead = rng.choice(leads[1:]).format_map(ctx) if rng.random() < 0.6 else summary_lead
        details = rng.sample(event.details, k=rng.randint(1, min(3, len(event.details))))
        middle = [d.format_map(ctx) for d in details]
        press = PROSE["press_release"]
        if doc_type == "press_release":
            body_lead = press["dateline"].format(hq=ctx["hq"], date=day(when), lead=body_lead)
            quote = rng.choice(PROSE["quotes"]["executive"][tone]).format_map(ctx)
            chief = ctx["old_person" if event.key == "ceo_appointment" else "person"]
            middle.append(press["quote"].format(quote=quote, speaker=chief, co=ctx["co"]))
        else:
            if not event.macro:
                middle.append(rng.choice(PROSE["reactions"][tone]).format_map(ctx))
            quote = rng.choice(PROSE["quotes"]["economist" if event.macro else "analyst"][tone]).format_map(ctx)
            speaker = ctx["analyst"] if "analyst" in ctx else person(rng)
            firm = ctx["broker"] if "broker" in ctx else rng.choice(WORLD["brokers"])
            role = "an economist" if event.macro else "an analyst"
            middle.append(
                rng.choice(PROSE["quote_attributions"]).format(quote=quote, speaker=speaker, role=role, firm=firm)
            )
        if rng.random() < 0.5:
            middle.append(rng.choice(story.sector.context))
        if doc_type == "analysis":
            middle.append(rng.choice(PROSE["analysis_closers"]).format_map(ctx))
        elif doc_type == "market_update":
            middle.append(rng.choice(PROSE["market_closers"]["macro" if event.macro else "company"]).format_map(ctx))
        elif doc_type == "filing_summary":
            lead = body_lead[0].lower() + body_lead[1:] if body_lead.startswith("The ") else body_lead
            body_lead = PROSE["filing_summary"]["lead"].format(market_regulator=WORLD["market_regulator"], lead=lead)
            middle.append(PROSE["filing_summary"]["closer"].format_map(ctx))
        if doc_type == "press_release":
            middle.append(press["about"].format_map(ChainMap({"a_noun": _article(str(ctx["noun"]))}, ctx)))
        # Three to six sentences in all; the lead always stays, the rest keep their order.
        keep = min(len(middle), rng.randint(2, 5))
        chosen = sorted(rng.sample(range(len(middle)), keep))
        if doc_type == "press_release" and len(middle) - 1 not in chosen:
            chosen[-1] = len(middle) - 1
        body = " ".join([body_lead] + [middle[i] for i in chosen])
        summary = summary_lead
        if rng.random() < 0.45 and middle:
            summary += " " + middle[0]
        return summary, body

    def quality(self, source: tuple[str, str, float], doc_type: str) -> float:
        score = source[2] + DOC_TYPE_QUALITY[doc_type] + self.rng.gauss(0, 0.06)
        return round(min(0.99, max(0.05, score)), 2)

    def __iter__(self) -> Iterator[tuple[dict, Labels]]:
        index = 0
        story_no = 0
        rng = self.rng
        # Follow-ups waiting for their turn: (due index, story number, company, event, facts).
        # Only stories from the last few months are pending, so this stays small.
        pending: list[tuple[int, int, str, str, dict[str, object]]] = []
        while index < self.count:
            story_no += 1
            when = self.published(index)
            if pending and pending[0][0] <= index:
                _, _, company, event_key, facts = heapq.heappop(pending)
                story = self.plan(story_no, when, (company, event_key, facts))
            else:
                story = self.plan(story_no, when)
            follow_up = FOLLOW_UPS.get(story.event.key)
            if follow_up and story.labels.company and rng.random() < follow_up[1]:
                days = rng.uniform(*FOLLOW_UP_DAYS)
                due = index + max(1, round(days * self.count / (END - START).days))
                facts = {key: story.ctx[key] for key in FOLLOW_UP_FACTS}
                heapq.heappush(pending, (due, story_no, story.labels.company, follow_up[0], facts))
            # Most events get one article; bigger ones are picked up by two or three outlets.
            articles = min(rng.choices((1, 2, 3), (0.55, 0.3, 0.15))[0], self.count - index)
            for article in range(articles):
                if article:
                    when = self.published(index)
                doc_type = self.pick_doc_type(story)
                source = self.pick_source(story, doc_type)
                summary, body = self.body_and_summary(story, doc_type, when)
                doc_id = f"nw-{index + 1:06d}"
                title = self.title(story, doc_type)
                names = (*story.companies, str(story.ctx.get("target", "")))
                title, summary, body = (_possessives(text, names) for text in (title, summary, body))
                mentions, organizations = self.named_in(story, f"{title} {summary} {body}")
                record = {
                    "id": doc_id,
                    "title": title,
                    "summary": summary,
                    "body": body,
                    "url": f"https://news.example/{source[1]}/{doc_id}",
                    "published_dt": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": source[0],
                    "doc_type": doc_type,
                    "themes": list(story.themes),
                    "organizations": organizations,
                    "quality_score": self.quality(source, doc_type),
                }
                yield record, replace(story.labels, mentions=mentions)
                index += 1


def generate_news(count: int, seed: int) -> Iterator[tuple[dict, Labels]]:
    """Stream ``count`` records with their hidden labels. Same arguments, same output."""
    if count < 0:
        raise ValueError("count must be >= 0")
    return iter(_Generator(count, seed))
