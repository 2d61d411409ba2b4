"""Synthetic financial news: a seeded generator, a judged relevance set and load-test queries.

The service needs news to ingest, search and benchmark against, and real articles cannot be
shipped with the repository. Everything produced here is invented: the companies, tickers,
executives, analysts, brokers, rating agencies, regulators, central banks and news outlets are
fictional, and every headline and sentence comes from templates written for this module. Any
resemblance to a real organisation or person is accidental.

Each generated record is a plain dict that validates as :class:`webapp.schemas.NewsRecord`.
Alongside it the generator yields the hidden :class:`Labels` it was written from (sector,
company, event, tone, macro topic). The labels are never written into the records; they exist
so that :data:`RELEVANCE_QUERIES` can be judged exactly: a query is a predicate over labels, and
its relevant documents are the ones whose labels satisfy it.

Output is a pure function of ``(count, seed)``: the same arguments give the same bytes on every
run. Regenerate the committed sample and its judged queries with::

    .venv/bin/python -m webapp.corpus generate --count 1200 --seed 20241101 \\
        --output data/news_sample.jsonl --relevance data/relevance.jsonl

(``flask corpus generate`` takes the same options once :data:`corpus_cli` is registered on
the app.) The relevance set is tuned to that sample: each query has 3-60 relevant documents
there. For other counts or seeds the same predicates are judged, but the counts are whatever
they turn out to be.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import os
import random
import statistics
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import click
from flask.cli import AppGroup
from tqdm import tqdm

SAMPLE_COUNT = 1200
SAMPLE_SEED = 20241101
SAMPLE_PATH = Path("data/news_sample.jsonl")
RELEVANCE_PATH = Path("data/relevance.jsonl")

START = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # exclusive: the last day is 2026-10-31

TONES = ("positive", "negative", "neutral")
# Roughly 35/35/30, so a sentiment model sees all three classes in useful numbers.
TONE_WEIGHTS = (0.35, 0.35, 0.30)
MACRO_SHARE = 0.2

DOC_TYPES = ("news", "press_release", "analysis", "market_update", "filing_summary")
DOC_TYPE_WEIGHTS = {
    "news": 0.42,
    "press_release": 0.14,
    "analysis": 0.14,
    "market_update": 0.18,
    "filing_summary": 0.12,
}


# --------------------------------------------------------------------------------------------
# The invented world: sectors, companies, outlets, people and institutions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sector:
    key: str
    theme: str
    noun: str
    nouns: str
    adj: str
    weight: float
    revenue_bn: float  # annual revenue of the sector's largest company, in billions
    companies: tuple[tuple[str, str, str], ...]  # (name, ticker, headquarters)
    products: tuple[str, ...]
    drivers: tuple[str, ...]
    context: tuple[str, ...]
    violations: tuple[str, ...]
    regulator: str
    units: tuple[str, ...]
    facilities: tuple[str, ...] = ()
    new_kinds: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    sales_metric: str = ""
    recall_items: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    systems: tuple[str, ...] = ("customer website", "internal IT systems")
    service: str = "online services"
    indications: tuple[str, ...] = ()
    goods: str = "imported goods"
    places: tuple[str, ...] = ()  # where its sites can be; empty means anywhere in PLACES


SECTORS: tuple[Sector, ...] = (
    Sector(
        key="banks",
        theme="banking",
        noun="lender",
        nouns="banks",
        adj="banking",
        weight=1.3,
        revenue_bn=48,
        companies=(
            ("Ashgrove Bancorp", "AGB", "Charlotte"),
            ("Kestrel Bank Holdings", "KBH", "Chicago"),
            ("Marrowfield Financial", "MRFL", "Boston"),
            ("Pellham Trust Bank", "PTB", "New York"),
            ("Quillon Savings Group", "QSG", "Columbus"),
            ("Redmarsh Capital Bank", "RMCB", "Dallas"),
            ("Vantor Commercial Bank", "VNCB", "Minneapolis"),
        ),
        products=("mortgage lending", "credit cards", "commercial loans", "wealth management", "investment banking"),
        drivers=("higher net interest income", "strong trading revenue", "growth in wealth management fees"),
        context=(
            "Banks have been weighing higher interest income against slower loan growth.",
            "Supervisors have pressed lenders to hold more capital against commercial property loans.",
            "Competition for deposits has pushed up funding costs across the industry.",
        ),
        violations=("anti-money-laundering controls", "overdraft fee disclosures", "the sale of investment products"),
        regulator="Banking Supervision Authority",
        units=("payments", "asset management"),
        systems=("online banking platform", "card payment system", "mobile banking app"),
        service="card payments and online banking",
        goods="financial services",
    ),
    Sector(
        key="insurance",
        theme="insurance",
        noun="insurer",
        nouns="insurers",
        adj="insurance",
        weight=0.8,
        revenue_bn=36,
        companies=(
            ("Gablestone Insurance", "GBSI", "Hartford"),
            ("Hollowmere Assurance", "HMA", "Des Moines"),
            ("Ironleaf Mutual", "ILM", "Milwaukee"),
            ("Sunmantle Re", "SMRE", "Bermuda"),
            ("Tervane Life", "TVL", "Omaha"),
            ("Oakhurst Casualty Group", "OKCG", "Philadelphia"),
        ),
        products=("property and casualty policies", "life insurance", "reinsurance", "commercial cover", "annuities"),
        drivers=("higher premium rates", "lower claims", "strong investment income"),
        context=(
            "Insurers have been raising premiums after several years of heavy weather claims.",
            "Higher bond yields have lifted investment income across the sector.",
            "Reinsurance costs remain a key pressure for primary insurers.",
        ),
        violations=("claims-handling practices", "the pricing of motor policies", "solvency reporting"),
        regulator="Insurance Standards Board",
        units=("reinsurance", "asset management"),
        systems=("claims portal", "policy administration system"),
        service="claims processing",
        goods="insurance services",
    ),
    Sector(
        key="semiconductors",
        theme="semiconductors",
        noun="chipmaker",
        nouns="chipmakers",
        adj="semiconductor",
        weight=1.3,
        revenue_bn=62,
        companies=(
            ("Northwind Semiconductors", "NWSC", "San Jose"),
            ("Lumetric Devices", "LMTD", "Austin"),
            ("Quartzline Micro", "QZLM", "Phoenix"),
            ("Argentum Logic", "AGLC", "Santa Clara"),
            ("Brightwafer Technologies", "BWFT", "Portland"),
            ("Corvane Silicon", "CVSI", "Dresden"),
            ("Helixon Chips", "HLXC", "Hsinchu"),
        ),
        products=(
            "AI accelerators",
            "memory chips",
            "power semiconductors",
            "automotive microcontrollers",
            "networking chips",
        ),
        drivers=("AI data-center demand", "a recovery in smartphone orders", "higher memory prices"),
        context=(
            "Chipmakers have been adding capacity to meet demand from data centers.",
            "Export controls continue to cloud the outlook for chip sales in some markets.",
            "Inventory corrections in consumer electronics have weighed on parts of the chip industry.",
        ),
        violations=("export-control rules", "licensing practices", "the disclosure of supply agreements"),
        regulator="Trade Compliance Office",
        units=("design-software", "automotive chip"),
        facilities=("chip fabrication plant", "packaging and test facility"),
        new_kinds=("AI accelerator", "memory module", "power chip", "network processor"),
        customers=("a major cloud provider", "a large smartphone maker", "a defense agency"),
        inputs=("specialty gases", "silicon wafers", "photoresist chemicals"),
        goods="imported chips",
    ),
    Sector(
        key="software",
        theme="software",
        noun="software maker",
        nouns="software companies",
        adj="software",
        weight=1.2,
        revenue_bn=40,
        companies=(
            ("Cloudmere Systems", "CLDM", "Seattle"),
            ("Parallax Ledger Software", "PLXS", "San Francisco"),
            ("Tessellate Software", "TSLT", "Toronto"),
            ("Brambleworks", "BRMW", "Denver"),
            ("Vireo Analytics", "VIRA", "Raleigh"),
            ("Stackharbor", "STKH", "Dublin"),
            ("Quiverlane Security", "QVLS", "Tel Aviv"),
        ),
        products=(
            "cloud platform",
            "cybersecurity tools",
            "analytics software",
            "subscription services",
            "developer tools",
        ),
        drivers=("growth in cloud subscriptions", "demand for AI features", "larger enterprise contracts"),
        context=(
            "Corporate software budgets have been shifting toward AI and security.",
            "Investors have been rewarding software companies that combine growth with profitability.",
            "Longer sales cycles have been a recurring theme among enterprise software vendors.",
        ),
        violations=("data privacy rules", "the bundling of its products", "subscription cancellation terms"),
        regulator="Data Protection Commission",
        units=("cloud security", "payments software"),
        new_kinds=("AI assistant", "security platform", "analytics suite", "database service"),
        customers=("a national government", "a large retail chain", "a global insurer"),
        systems=("cloud platform", "login service", "customer database"),
        service="cloud services for business customers",
        goods="software services",
    ),
    Sector(
        key="pharma",
        theme="pharmaceuticals",
        noun="drugmaker",
        nouns="drugmakers",
        adj="pharmaceutical",
        weight=1.1,
        revenue_bn=55,
        companies=(
            ("Halverin Pharmaceuticals", "HVRP", "Basel"),
            ("Ostrander Pharma", "OSTP", "New Jersey"),
            ("Ravelle Pharmaceuticals", "RVLP", "Cambridge"),
            ("Solenne Health", "SLNH", "Copenhagen"),
            ("Kilbride Laboratories", "KBRL", "Indianapolis"),
            ("Damaris Pharma", "DMRS", "Lyon"),
        ),
        products=("oncology drugs", "vaccines", "diabetes treatments", "cardiovascular medicines", "generic drugs"),
        drivers=("strong sales of its cancer drugs", "higher vaccine demand", "growth in its diabetes franchise"),
        context=(
            "Drugmakers face pressure on pricing as governments try to contain health spending.",
            "Patent expiries on older medicines are a recurring challenge for the industry.",
            "Large pharmaceutical groups have been buying biotech firms to refill their pipelines.",
        ),
        violations=("marketing practices", "manufacturing quality standards", "pricing disclosures"),
        regulator="Medicines Evaluation Agency",
        units=("consumer health", "generics"),
        facilities=("manufacturing site", "vaccine plant"),
        recall_items=(
            "packs of blood-pressure tablets",
            "vials of an injectable antibiotic",
            "bottles of a children's cough syrup",
        ),
        defects=("possible contamination", "incorrect labelling", "sterility concerns"),
        inputs=("active ingredients", "glass vials"),
        indications=("moderate asthma", "type 2 diabetes", "heart failure", "migraine", "lung cancer", "psoriasis"),
        goods="imported medicines",
    ),
    Sector(
        key="biotech",
        theme="biotechnology",
        noun="biotech company",
        nouns="biotech companies",
        adj="biotech",
        weight=0.9,
        revenue_bn=6,
        companies=(
            ("Genovance Bio", "GNVB", "San Diego"),
            ("Helicore Biosciences", "HCBS", "Boston"),
            ("Mirabel Genomics", "MRBG", "South San Francisco"),
            ("Thessaly Bio", "THSB", "Oxford"),
            ("Cytheron Therapeutics", "CYTH", "Cambridge"),
            ("Plenara Biologics", "PLNB", "Seattle"),
        ),
        products=("gene therapies", "antibody treatments", "rare-disease medicines", "cell therapies"),
        drivers=("licensing revenue", "a milestone payment from a partner", "early sales of its first product"),
        context=(
            "Biotech funding has picked up as investors return to early-stage drug developers.",
            "Smaller biotech companies often depend on partners to fund late-stage trials.",
            "Clinical readouts remain the main driver of biotech share prices.",
        ),
        violations=("trial disclosure rules", "manufacturing records"),
        regulator="Medicines Evaluation Agency",
        units=("diagnostics", "gene-editing"),
        facilities=("cell-therapy manufacturing site", "research campus"),
        indications=(
            "a rare muscle disorder",
            "Alzheimer's disease",
            "sickle cell disease",
            "pancreatic cancer",
            "lupus",
            "obesity",
        ),
        goods="imported lab equipment",
    ),
    Sector(
        key="oil_gas",
        theme="oil and gas",
        noun="oil producer",
        nouns="oil companies",
        adj="energy",
        weight=1.1,
        revenue_bn=120,
        companies=(
            ("Blackfen Energy", "BKFE", "Houston"),
            ("Corrigan Petroleum", "CRGP", "Calgary"),
            ("Dunmore Oil & Gas", "DMOG", "Aberdeen"),
            ("Saltire Offshore", "SLTO", "Stavanger"),
            ("Tamsin Energy", "TMSE", "Oklahoma City"),
            ("Harrowgate Petroleum", "HRGP", "Denver"),
        ),
        products=("offshore oil", "natural gas", "refined fuels", "liquefied natural gas", "shale oil"),
        drivers=("higher crude prices", "strong refining margins", "record output from its shale fields"),
        context=(
            "Oil companies have put shareholder returns ahead of new drilling.",
            "Refining margins have been volatile as fuel demand shifts.",
            "Producers face rising pressure to cut emissions from their operations.",
        ),
        violations=("emissions reporting", "pipeline safety rules", "a fuel spill"),
        regulator="Energy Regulatory Office",
        units=("pipeline", "retail fuel"),
        facilities=("offshore platform", "refinery", "gas processing plant"),
        places=("the North Sea", "the Gulf Coast", "West Africa", "offshore Brazil", "western Canada"),
        customers=("a national utility", "an Asian gas buyer"),
        goods="imported steel pipe",
    ),
    Sector(
        key="renewables",
        theme="renewable energy",
        noun="renewable energy developer",
        nouns="renewable energy companies",
        adj="clean energy",
        weight=0.9,
        revenue_bn=14,
        companies=(
            ("Solvane Power", "SLVP", "Madrid"),
            ("Galewright Energy", "GLWR", "Aarhus"),
            ("Heliostrand Solar", "HLSS", "Tempe"),
            ("Tidewell Power", "TDWP", "Glasgow"),
            ("Verdantis Renewables", "VRDR", "Lisbon"),
            ("Amberlight Storage", "AMBS", "Sacramento"),
        ),
        products=("solar farms", "offshore wind projects", "battery storage", "solar panels"),
        drivers=("new project completions", "higher power prices", "strong demand for battery storage"),
        context=(
            "Renewable developers are sensitive to interest rates because projects are financed with debt.",
            "Grid connection delays have slowed the rollout of new solar and wind capacity.",
            "Government incentives continue to support investment in clean energy.",
        ),
        violations=("environmental permits", "subsidy claims"),
        regulator="Energy Regulatory Office",
        units=("residential solar", "energy storage"),
        facilities=("solar panel factory", "wind farm", "battery plant"),
        new_kinds=("home battery", "solar module", "wind turbine"),
        customers=("a regional utility", "a large technology company", "a state power agency"),
        inputs=("polysilicon", "turbine blades"),
        goods="imported solar panels",
    ),
    Sector(
        key="autos",
        theme="automotive",
        noun="automaker",
        nouns="automakers",
        adj="auto",
        weight=1.1,
        revenue_bn=150,
        companies=(
            ("Castellan Motors", "CSTM", "Detroit"),
            ("Ridgeway Automotive", "RDGA", "Nashville"),
            ("Voltaro Motors", "VLTM", "Palo Alto"),
            ("Kessler-Brandt Auto", "KBAU", "Stuttgart"),
            ("Marlowe Vehicles", "MRLV", "Coventry"),
            ("Trevant Mobility", "TRVM", "Turin"),
        ),
        products=("electric vehicles", "pickup trucks", "hybrid cars", "commercial vans", "SUVs"),
        drivers=("strong demand for its hybrid models", "higher prices on new models", "a rebound in fleet sales"),
        context=(
            "Automakers are adjusting electric vehicle plans as demand grows more slowly than expected.",
            "Dealer inventories have returned to more normal levels after years of shortages.",
            "Tariffs on parts and vehicles remain a major uncertainty for carmakers.",
        ),
        violations=("emissions testing", "safety reporting"),
        regulator="Vehicle Safety Administration",
        units=("electric vehicle", "auto finance"),
        facilities=("assembly plant", "battery plant"),
        new_kinds=("electric SUV", "hybrid sedan", "pickup truck"),
        customers=("a rental car company", "a national postal service"),
        sales_metric="vehicle deliveries",
        recall_items=("vehicles",),
        defects=("faulty airbags", "a brake defect", "a fire risk in the battery pack", "a steering software fault"),
        inputs=("semiconductors", "batteries", "aluminium parts"),
        goods="imported cars and parts",
    ),
    Sector(
        key="airlines",
        theme="airlines",
        noun="airline",
        nouns="airlines",
        adj="airline",
        weight=1.0,
        revenue_bn=52,
        companies=(
            ("Aeroventa Airlines", "AVTA", "Atlanta"),
            ("Bluegale Air", "BGLA", "Dublin"),
            ("Caravel Airlines", "CRVL", "Miami"),
            ("Pinecrest Air", "PNCA", "Salt Lake City"),
            ("Solway Airlines", "SLWA", "Manchester"),
            ("Tarragon Air", "TRGA", "Barcelona"),
        ),
        products=("transatlantic flights", "domestic routes", "premium cabins", "cargo services", "loyalty program"),
        drivers=("record summer travel demand", "strong premium cabin bookings", "higher fares"),
        context=(
            "Airlines have benefited from strong travel demand but face high labour costs.",
            "Fuel is one of the largest expenses for carriers.",
            "Aircraft delivery delays have limited capacity growth across the industry.",
        ),
        violations=("passenger refund rules", "maintenance records", "delay compensation rules"),
        regulator="Aviation Safety Directorate",
        units=("loyalty program", "regional airline"),
        sales_metric="passenger numbers",
        systems=("booking system", "check-in system", "crew scheduling system"),
        service="check-in and boarding",
        goods="imported aircraft parts",
    ),
    Sector(
        key="retail",
        theme="retail",
        noun="retailer",
        nouns="retailers",
        adj="retail",
        weight=1.0,
        revenue_bn=90,
        companies=(
            ("Hartwell & Finch", "HWF", "Minneapolis"),
            ("Brookmere Stores", "BRKS", "Cincinnati"),
            ("Thimble Market", "THMB", "Seattle"),
            ("Crestway Outlet Group", "CWOG", "Atlanta"),
            ("Lindqvist Home", "LDQH", "Gothenburg"),
            ("Peppercorn Grocers", "PPCG", "Leeds"),
            ("Maplestone Retail", "MPSR", "Toronto"),
        ),
        products=("online sales", "groceries", "home goods", "apparel", "private-label products"),
        drivers=("strong holiday shopping", "growth in online orders", "higher grocery sales"),
        context=(
            "Retailers are watching whether consumers keep spending while prices stay high.",
            "Shoppers have been trading down to cheaper private-label goods.",
            "Online sales continue to take share from physical stores.",
        ),
        violations=("pricing claims", "product safety rules", "labour standards"),
        regulator="Consumer Protection Office",
        units=("online marketplace", "pharmacy"),
        facilities=("distribution center", "flagship store"),
        sales_metric="same-store sales",
        recall_items=("store-brand toys", "kitchen appliances", "space heaters"),
        defects=("a choking hazard", "a fire risk", "an electrical fault"),
        inputs=("imported goods", "packaging"),
        systems=("online checkout", "payment terminals", "loyalty app"),
        service="online ordering and in-store payments",
        goods="consumer imports",
    ),
    Sector(
        key="telecom",
        theme="telecommunications",
        noun="telecom operator",
        nouns="telecom companies",
        adj="telecom",
        weight=0.8,
        revenue_bn=70,
        companies=(
            ("Telvana Communications", "TLVC", "Dallas"),
            ("Corridor Networks", "CRDN", "Denver"),
            ("Signalbridge Telecom", "SGBT", "Rotterdam"),
            ("Aurelian Mobile", "AURM", "Milan"),
            ("Fiberhollow", "FBHL", "Kansas City"),
            ("Keystrand Telecom", "KSTT", "Vancouver"),
        ),
        products=("5G network", "fiber broadband", "mobile plans", "enterprise connectivity", "pay TV"),
        drivers=("strong subscriber growth", "higher fiber broadband sales", "price increases on mobile plans"),
        context=(
            "Telecom operators are spending heavily on fiber and 5G networks.",
            "Price competition for mobile customers remains intense.",
            "Operators have been selling tower assets to reduce debt.",
        ),
        violations=("outage reporting rules", "billing practices"),
        regulator="Communications Regulatory Office",
        units=("tower", "data-center"),
        new_kinds=("satellite messaging service", "home broadband plan", "5G business service"),
        customers=("a national rail operator", "a government agency", "a hospital network"),
        sales_metric="subscriber additions",
        systems=("mobile network", "broadband network", "billing system"),
        service="mobile and broadband service",
        goods="imported network equipment",
    ),
    Sector(
        key="mining",
        theme="mining",
        noun="miner",
        nouns="miners",
        adj="mining",
        weight=0.8,
        revenue_bn=45,
        companies=(
            ("Ironvale Mining", "IRVM", "Perth"),
            ("Coppergrove Resources", "CPGR", "Santiago"),
            ("Lithara Minerals", "LTRA", "Reno"),
            ("Goldmere Mines", "GDMM", "Johannesburg"),
            ("Basalt Ridge Mining", "BSRM", "Vancouver"),
            ("Tellurine Metals", "TLRN", "Brisbane"),
        ),
        products=("copper", "lithium", "gold", "iron ore", "nickel"),
        drivers=("higher copper prices", "record gold output", "strong iron ore shipments"),
        context=(
            "Miners are racing to secure supplies of metals needed for electrification.",
            "Metal prices have been volatile as industrial demand fluctuates.",
            "Permitting a new mine can take a decade or more.",
        ),
        violations=("environmental permits", "worker safety rules", "tailings dam oversight"),
        regulator="Environmental Protection Bureau",
        units=("royalties", "battery metals"),
        facilities=("copper mine", "lithium processing plant", "gold mine"),
        places=("Chile", "Western Australia", "Nevada", "Quebec", "Peru", "Zambia"),
        customers=("a battery maker", "a steel producer"),
        goods="imported metals",
    ),
    Sector(
        key="real_estate",
        theme="real estate",
        noun="property group",
        nouns="real estate companies",
        adj="property",
        weight=0.8,
        revenue_bn=9,
        companies=(
            ("Cobblestone Realty Trust", "CBRT", "New York"),
            ("Highgable Properties", "HGBP", "London"),
            ("Palisade Row REIT", "PRRT", "Chicago"),
            ("Wexmoor Estates", "WXME", "Sydney"),
            ("Granary Logistics Properties", "GRLP", "Atlanta"),
            ("Amberhall Residential", "AMHR", "Phoenix"),
        ),
        products=("office towers", "logistics warehouses", "apartment buildings", "shopping centers", "data centers"),
        drivers=("higher rents", "strong occupancy in its warehouses", "gains on asset sales"),
        context=(
            "Office landlords continue to face soft demand as hybrid work persists.",
            "Warehouse and data-center properties have held up better than offices.",
            "Property values are sensitive to changes in interest rates.",
        ),
        violations=("tenant disclosure rules", "building safety standards"),
        regulator="Securities Oversight Commission",
        units=("data-center", "student housing"),
        systems=("tenant portal", "payment system"),
        service="tenant services",
        goods="construction materials",
    ),
    Sector(
        key="consumer_goods",
        theme="consumer goods",
        noun="consumer goods maker",
        nouns="consumer goods companies",
        adj="consumer goods",
        weight=0.9,
        revenue_bn=60,
        companies=(
            ("Fernleigh Brands", "FNLB", "Cincinnati"),
            ("Pomeroy & Vance", "PMVC", "Chicago"),
            ("Kindlewood Consumer", "KDWC", "Amsterdam"),
            ("Brightmoor Household", "BMHH", "Geneva"),
            ("Saffron Lane Foods", "SLFD", "Minneapolis"),
            ("Oakvale Personal Care", "OVPC", "Paris"),
        ),
        products=("household cleaning brands", "packaged snacks", "personal care products", "beverages", "pet food"),
        drivers=("higher prices", "strong volume growth in snacks", "premium beauty products"),
        context=(
            "Consumer goods makers have relied on price increases to offset higher input costs.",
            "Volumes are under pressure as shoppers switch to store brands.",
            "Marketing spending has risen as brands compete for shelf space.",
        ),
        violations=("product labelling", "advertising claims"),
        regulator="Consumer Protection Office",
        units=("beverages", "skincare"),
        facilities=("bottling plant", "production facility"),
        new_kinds=("snack line", "skincare range", "laundry detergent"),
        sales_metric="organic sales",
        recall_items=("jars of baby food", "bottles of shampoo", "bags of pet food"),
        defects=("possible contamination", "undeclared allergens", "bacterial contamination"),
        inputs=("packaging materials", "cocoa", "palm oil"),
        goods="packaged food imports",
    ),
    Sector(
        key="industrials",
        theme="industrials",
        noun="industrial group",
        nouns="industrial companies",
        adj="industrial",
        weight=0.8,
        revenue_bn=40,
        companies=(
            ("Harrington Forge", "HRFG", "Pittsburgh"),
            ("Steelbrook Industries", "SBKI", "Cleveland"),
            ("Calloway Dynamics", "CLWD", "Wichita"),
            ("Axlewright Machinery", "AXWM", "Peoria"),
            ("Tormund Rail Systems", "TMRS", "Munich"),
            ("Vexford Automation", "VXFA", "Milwaukee"),
        ),
        products=(
            "rail equipment",
            "factory automation",
            "aircraft parts",
            "construction machinery",
            "electrical equipment",
        ),
        drivers=(
            "strong orders for electrical equipment",
            "higher aftermarket sales",
            "demand from data-center construction",
        ),
        context=(
            "Industrial companies have benefited from investment in power grids and factories.",
            "Order backlogs remain high across the sector.",
            "Higher steel and energy costs have squeezed margins for some manufacturers.",
        ),
        violations=("workplace safety rules", "export-control rules"),
        regulator="Workplace Safety Agency",
        units=("rail", "services"),
        facilities=("factory", "assembly plant"),
        new_kinds=("robotic welding system", "grid transformer", "electric excavator"),
        customers=("a national rail operator", "a regional utility", "the defense ministry"),
        recall_items=("industrial heaters", "forklift trucks"),
        defects=("a fire risk", "a brake defect"),
        inputs=("steel", "electronic components"),
        goods="steel and aluminium",
    ),
)
SECTOR_BY_KEY = {sector.key: sector for sector in SECTORS}


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


def _build_companies() -> tuple[Company, ...]:
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


COMPANIES = _build_companies()
COMPANY_BY_NAME = {company.name: company for company in COMPANIES}
SECTOR_COMPANIES = {s.key: tuple(c for c in COMPANIES if c.sector == s.key) for s in SECTORS}
# Peers and outsiders per company, built once: rebuilding them per story was half the run time.
PEERS = {c.name: tuple(p for p in SECTOR_COMPANIES[c.sector] if p is not c) for c in COMPANIES}
OUTSIDERS = {s.key: tuple(c for c in COMPANIES if c.sector != s.key) for s in SECTORS}

# (name, url slug, house quality): quality_score is centred on the house value.
SOURCES: tuple[tuple[str, str, float], ...] = (
    ("Harborline Business News", "harborline", 0.82),
    ("The Copper Ledger", "copper-ledger", 0.86),
    ("Bellhaven Markets Daily", "bellhaven", 0.74),
    ("Quayside Wire", "quayside-wire", 0.70),
    ("Larkspur Investor", "larkspur-investor", 0.77),
    ("Ridgecrest Capital Review", "ridgecrest-review", 0.84),
    ("Lanternfield Press Wire", "lanternfield-wire", 0.58),
    ("Cobalt Street Analyst", "cobalt-street", 0.80),
    ("Evergale Money", "evergale-money", 0.66),
)
# Which outlets publish which kind of item: press releases go out over the wires, filings are
# summarised by the papers of record, analysis comes from the commentary houses.
SOURCE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "news": (3, 2, 3, 2, 2, 1, 0, 1, 3),
    "press_release": (0, 0, 0, 3, 0, 0, 6, 0, 0),
    "analysis": (1, 2, 1, 0, 3, 3, 0, 4, 1),
    "market_update": (2, 1, 4, 3, 2, 1, 0, 1, 3),
    "filing_summary": (1, 4, 0, 1, 1, 3, 0, 1, 0),
}
DOC_TYPE_QUALITY = {
    "news": 0.0,
    "press_release": -0.08,
    "analysis": 0.05,
    "market_update": -0.03,
    "filing_summary": 0.04,
}

FIRST_NAMES = (
    "Adele",
    "Bram",
    "Celia",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hector",
    "Ingrid",
    "Jonas",
    "Keiko",
    "Lionel",
    "Maren",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosalind",
    "Soren",
    "Tamsin",
    "Ulrich",
    "Vera",
    "Wendell",
    "Ximena",
    "Yusuf",
    "Zora",
    "Anders",
    "Beatrix",
    "Cormac",
    "Delphine",
    "Emeka",
    "Fiona",
    "Gideon",
    "Hana",
)
LAST_NAMES = (
    "Aldergrove",
    "Bexhill",
    "Carrow",
    "Dunleavy",
    "Eastwick",
    "Falkner",
    "Greystoke",
    "Hallorann",
    "Ivers",
    "Jessop",
    "Kettering",
    "Lindell",
    "Moncrieff",
    "Norcott",
    "Okonkwo-Hale",
    "Penhaligon",
    "Quarrie",
    "Ravensworth",
    "Sallow",
    "Thackery",
    "Underhill",
    "Varga-Lund",
    "Whitlock",
    "Yardley",
    "Zeller",
    "Ashdown",
    "Brightman",
    "Castellanos-Ruiz",
    "Delacroix-Webb",
    "Ellingham",
    "Fairweather",
    "Gundersen",
    "Holbeck",
    "Iwasaki-Grant",
)
BROKERS = (
    "Harcourt Lane Securities",
    "Ravenbrook Capital Markets",
    "Ellery & Stroud",
    "Tamberlane Research",
    "Fenwick Quay Partners",
    "Orlov Marsh Securities",
    "Calder Yates & Partners",
    "Penrose Hill Advisors",
)
RATING_AGENCIES = ("Keystone Credit Ratings", "Albright Ratings Service", "Sterling Scale Ratings")
RATING_SCALE = ("AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-", "B+", "B", "B-", "CCC+")
MARKET_REGULATOR = "Securities Oversight Commission"
PRIVATE_PREFIXES = (
    "Ardent",
    "Bexley",
    "Corbin",
    "Delmar",
    "Everly",
    "Fennick",
    "Grayling",
    "Holloway",
    "Islay",
    "Juniper",
    "Kelso",
    "Lorne",
    "Mossgiel",
    "Nettlebed",
    "Orrin",
    "Prescott",
    "Quenby",
    "Rowan",
    "Selwyn",
    "Thornbury",
)
PRIVATE_SUFFIXES = {
    "banks": ("Payments", "Capital"),
    "insurance": ("Underwriters", "Risk Partners"),
    "semiconductors": ("Photonics", "Microsystems"),
    "software": ("Analytics", "Labs"),
    "pharma": ("Therapeutics", "Biopharma"),
    "biotech": ("Bio", "Genetics"),
    "oil_gas": ("Resources", "Midstream"),
    "renewables": ("Solar", "Wind Partners"),
    "autos": ("EV Systems", "Drivetrain"),
    "airlines": ("Aviation", "Air"),
    "retail": ("Outfitters", "Marketplace"),
    "telecom": ("Fiber", "Wireless"),
    "mining": ("Minerals", "Metals"),
    "real_estate": ("Properties", "Land Holdings"),
    "consumer_goods": ("Brands", "Foods"),
    "industrials": ("Engineering", "Robotics"),
}
PLACES = (
    "Ohio",
    "Texas",
    "Arizona",
    "northern Mexico",
    "Poland",
    "Malaysia",
    "Ireland",
    "Georgia",
    "Ontario",
    "Bavaria",
    "Vietnam",
    "Nevada",
    "Portugal",
    "Quebec",
    "Scotland",
    "North Carolina",
)
REGIONS = ("North America", "Europe", "Asia", "Latin America", "its home market", "the Middle East")
COURT_CITIES = ("Delaware", "New York", "San Francisco", "Chicago", "Houston", "London")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
QUARTER_WORDS = ("first", "second", "third", "fourth")
MODEL_NAMES = (
    "Kestra",
    "Vantis",
    "Solace",
    "Merrow",
    "Tallis",
    "Quorra",
    "Brisa",
    "Halden",
    "Ostra",
    "Zephra",
    "Lyre",
    "Caddis",
)
DRUG_HEADS = ("Vel", "Tor", "Zan", "Ori", "Cal", "Mex", "Dar", "Lum", "Pra", "Quel", "Syn", "Bre")
DRUG_TAILS = ("marix", "zena", "pravin", "tolex", "dumab", "sitra", "vexil", "nara", "loxin", "tavir")


# --------------------------------------------------------------------------------------------
# Events: what a story is about, the tone it carries, and how it can be written
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    key: str
    tone: str
    themes: tuple[str, ...]
    noun: str
    titles: tuple[str, ...]
    leads: tuple[str, ...]
    details: tuple[str, ...]
    sectors: tuple[str, ...] | None = None  # None: any sector; for macro events, a repeat weights the draw
    weight: float = 1.0
    press_release: bool = True  # would the company itself put this out?
    filing: bool = False  # would it show up in a regulatory filing?
    macro: str | None = None  # macro topic, for economy-wide events
    analysis: bool = True  # worth a commentary piece? (a results date is not)


MANUFACTURERS = (
    "semiconductors",
    "pharma",
    "biotech",
    "autos",
    "consumer_goods",
    "industrials",
    "renewables",
    "mining",
    "oil_gas",
    "retail",
)
NO_DIVIDEND = tuple(s.key for s in SECTORS if s.key != "biotech")
DRUG_SECTORS = ("pharma", "biotech")
NUMBERED_MODELS = ("semiconductors", "autos", "industrials", "renewables")  # "Kestra 5" suits a chip, not a snack

COMPANY_EVENTS: tuple[Event, ...] = (
    # ---- positive ----
    Event(
        "earnings_beat",
        "positive",
        ("earnings",),
        "earnings beat",
        weight=5,
        filing=True,
        titles=(
            "{co} beats {q} estimates as {driver} lifts revenue",
            "{co} posts record {q} profit, tops forecasts",
            "{co} earnings exceed expectations on strong {product} demand",
            "{co} {qs} EPS of ${eps} beats consensus of ${eps_est}",
            "Strong {product} sales drive {co} to {q} earnings beat",
            "{co} quarterly profit jumps {growth}%, ahead of Street view",
        ),
        leads=(
            "{co} reported {q} earnings of ${eps} a share, exceeding the ${eps_est} analysts had expected, as revenue grew {growth}% to {rev}.",
            "{co} said {q} net income rose {growth}% on strong demand for its {product}, with revenue of {rev} ahead of forecasts.",
            "The {noun} delivered a stronger-than-expected {q}, earning ${eps} per share against a consensus estimate of ${eps_est}.",
            "{co} beat profit forecasts for the {qn} of {fy}, helped by improved margins and {driver}.",
        ),
        details=(
            "Gross margin improved to {margin}% from {margin_prev}% a year earlier.",
            "Revenue from {product} grew {growth2}%, the fastest pace in {n_quarters} quarters.",
            "Operating profit reached {op_profit}, a record for the period.",
            "The company said cost savings and higher pricing helped it exceed its own targets.",
            "Free cash flow was {fcf} for the quarter, up from {fcf_prev} a year ago.",
        ),
    ),
    Event(
        "guidance_raise",
        "positive",
        ("guidance", "earnings"),
        "raised outlook",
        weight=2,
        filing=True,
        titles=(
            "{co} raises {fy} outlook after strong {qn}",
            "{co} lifts {fy} revenue forecast to {guid_hi}",
            "{co} boosts guidance, citing improving demand for {product}",
            "Upbeat {co} raises profit target for {fy}",
            "{co} increases annual earnings forecast to ${eps_g_lo}-${eps_g_hi} a share",
        ),
        leads=(
            "{co} raised its {fy} revenue forecast to between {guid_lo} and {guid_hi}, citing strong demand for {product}.",
            "{co} now expects full-year earnings of ${eps_g_lo} to ${eps_g_hi} per share, above its previous outlook and ahead of analyst estimates.",
            "The {noun} lifted its annual guidance for the second time this year as orders continued to improve.",
        ),
        details=(
            "The new midpoint implies growth of roughly {growth}% over last year.",
            "Management said the order backlog reached a record level at the end of the quarter.",
            "The company also expects operating margin to improve by about {bps} basis points.",
            "Executives pointed to stronger pricing and better-than-expected cost savings.",
        ),
    ),
    Event(
        "dividend_increase",
        "positive",
        ("dividends",),
        "dividend increase",
        weight=1.5,
        filing=True,
        sectors=NO_DIVIDEND,
        titles=(
            "{co} raises quarterly dividend by {div_pct}%",
            "{co} lifts payout to ${div_new} a share",
            "{co} increases dividend for {streak_ord} consecutive year",
            "{co} boosts dividend to ${div_new} on strong cash generation",
        ),
        leads=(
            "{co} increased its quarterly dividend by {div_pct}% to ${div_new} per share from ${div_old}, reflecting strong cash flow.",
            "The board of {co} approved a higher quarterly payout of ${div_new} a share, up from ${div_old}.",
            "{co} raised its dividend for the {streak_ord} straight year, saying improved earnings support larger returns to shareholders.",
        ),
        details=(
            "The dividend is payable on {pay_date} to shareholders of record on {record_date}.",
            "The new payout gives the stock an annual yield of about {yield_pct}%.",
            "The company said its strong balance sheet leaves room for further increases.",
        ),
    ),
    Event(
        "buyback",
        "positive",
        ("share buybacks", "capital returns"),
        "share buyback",
        weight=1.5,
        filing=True,
        sectors=NO_DIVIDEND,
        titles=(
            "{co} announces {buyback} share buyback",
            "{co} unveils new {buyback} repurchase program",
            "{co} to buy back up to {buyback} of its stock",
            "{co} boosts shareholder returns with {buyback} buyback",
        ),
        leads=(
            "{co} authorised a share repurchase program of up to {buyback}, saying strong cash flow allows it to return more capital to shareholders.",
            "The board of {co} approved a new {buyback} buyback, equal to roughly {buyback_pct}% of its market value.",
            "{co} said it will repurchase up to {buyback} of its shares over the next {years} years.",
        ),
        details=(
            "The program replaces an earlier authorisation that was nearly complete.",
            "Management said the buyback reflects confidence in the company's long-term growth.",
            "The company ended the quarter with {cash} in cash and short-term investments.",
        ),
    ),
    Event(
        "acquisition",
        "positive",
        ("mergers and acquisitions",),
        "acquisition",
        weight=1.5,
        filing=True,
        titles=(
            "{co} to acquire {target} for {deal_value}",
            "{co} agrees {deal_value} deal for {target}",
            "{co} buys {target} to expand in {product}",
            "{co} strikes deal to buy {target} at {premium}% premium",
            "{co} bolsters {product} business with {target} purchase",
        ),
        leads=(
            "{co} agreed to acquire {target} for {deal_value} in cash, a deal it said will strengthen its position in {product}.",
            "{co} will buy {target} for about {deal_value}, paying a {premium}% premium to the target's recent valuation.",
            "The {noun} announced a {deal_value} agreement to acquire {target}, its largest deal in years.",
        ),
        details=(
            "The companies expect the transaction to close in the {close_half} of {close_year}, subject to regulatory approval.",
            "{co} said the deal should add to earnings within the first full year and generate {synergies} in annual cost savings.",
            "The purchase will be funded with cash on hand and new debt.",
            "{target}'s management team will join {co} once the deal closes.",
        ),
    ),
    Event(
        "product_launch",
        "positive",
        ("product launch",),
        "product launch",
        weight=1.5,
        sectors=("semiconductors", "software", "autos", "telecom", "consumer_goods", "industrials", "renewables"),
        titles=(
            "{co} launches {new_product}",
            "{co} unveils {new_product} to compete in {product}",
            "{co} introduces {new_product}, expanding its {product} line",
            "New {new_product} from {co} targets {segment}",
        ),
        leads=(
            "{co} launched the {new_product}, which it says offers {improve_pct}% better performance than its previous model.",
            "{co} introduced the {new_product} aimed at {segment}, with sales starting in {launch_month}.",
            "The {noun} unveiled the {new_product}, part of a push to gain share in {product}.",
        ),
        details=(
            "Early orders have been strong, according to the company.",
            "The launch follows {years} years of development and an investment of about {capex}.",
            "Analysts said the product could add meaningfully to revenue from next year.",
            "The company plans to expand availability to {region} later in the year.",
        ),
    ),
    Event(
        "contract_win",
        "positive",
        ("contracts",),
        "contract win",
        weight=1.5,
        sectors=("semiconductors", "software", "telecom", "industrials", "renewables", "oil_gas", "mining", "autos"),
        titles=(
            "{co} wins {contract_value} contract from {customer}",
            "{co} lands {years}-year deal with {customer}",
            "{customer_cap} awards {co} {contract_value} order",
            "{co} secures major {product} contract",
        ),
        leads=(
            "{co} won a {contract_value} contract from {customer} to supply {product} over {years} years.",
            "{customer_cap} selected {co} for a {years}-year agreement valued at about {contract_value}.",
            "The {noun} secured one of the largest orders in its history, a {contract_value} deal with {customer}.",
        ),
        details=(
            "Deliveries are expected to begin in the {close_half} of {close_year}.",
            "The contract adds to a record order backlog.",
            "{co} said the agreement includes options that could increase its value further.",
        ),
    ),
    Event(
        "rating_upgrade",
        "positive",
        ("credit ratings",),
        "credit upgrade",
        weight=1,
        press_release=False,
        titles=(
            "{agency} upgrades {co} to {rating_to}",
            "{co} credit rating raised to {rating_to} by {agency}",
            "{agency} lifts {co} rating to {rating_to} on improved balance sheet",
            "{co} wins credit upgrade to {rating_to} as debt falls",
        ),
        leads=(
            "{agency} upgraded {co}'s long-term credit rating to {rating_to} from {rating_from}, citing stronger cash flow and lower leverage.",
            "{co} received a one-notch upgrade from {agency}, which said improving profitability supports a higher rating.",
            "{agency} raised its rating on the {noun} to {rating_to}, reflecting steady progress in reducing debt.",
        ),
        details=(
            "The agency assigned a {outlook} outlook to the rating.",
            "Net debt has fallen to about {leverage} times earnings, the agency said.",
            "The upgrade should lower the company's borrowing costs.",
        ),
    ),
    Event(
        "analyst_upgrade",
        "positive",
        ("analyst ratings",),
        "analyst upgrade",
        weight=1.5,
        press_release=False,
        titles=(
            "{broker} upgrades {co} to {rating_up}",
            "{co} upgraded at {broker} on {product} outlook",
            "{broker} raises {co} price target to ${pt_new}",
            "{co} gains after {broker} upgrade",
        ),
        leads=(
            "{broker} upgraded {co} to {rating_up} from {rating_mid} and raised its price target to ${pt_new} from ${pt_old}, citing improving {product} demand.",
            "Analysts at {broker} turned positive on {co}, saying the market underestimates the strength of its {product} business.",
            "{broker} lifted its price target on the {noun} to ${pt_new}, arguing that earnings will exceed consensus next year.",
        ),
        details=(
            "The broker expects margins to improve as cost cuts take hold.",
            "{analyst}, who covers the stock, said the valuation looks attractive after recent underperformance.",
            "The new target implies a gain of about {upside}% from the last close.",
        ),
    ),
    Event(
        "plant_opening",
        "positive",
        ("operations", "capacity expansion"),
        "new facility",
        weight=1,
        sectors=MANUFACTURERS,
        titles=(
            "{co} opens new {facility} in {place}",
            "{co} to invest {capex} in {place} {facility}",
            "{co} expands capacity with {capex} {facility}",
            "{co} starts production at {place} {facility}",
        ),
        leads=(
            "{co} opened a new {facility} in {place}, an investment of about {capex} that will create {plant_jobs} jobs.",
            "{co} said it will invest {capex} to build a {facility} in {place}, expanding capacity to meet strong demand.",
            "The {noun} started operations at its {facility} in {place}, ahead of schedule.",
        ),
        details=(
            "The site is expected to reach full output by {close_year}.",
            "Local officials welcomed the investment and the {plant_jobs} jobs it brings.",
            "The expansion will raise total capacity by about {growth}%.",
        ),
    ),
    Event(
        "drug_approval",
        "positive",
        ("drug approval", "regulation"),
        "drug approval",
        weight=3,
        sectors=DRUG_SECTORS,
        titles=(
            "{regulator} approves {co}'s {drug} for {indication}",
            "{co} wins approval for {drug}",
            "{co} gets green light for {indication} treatment {drug}",
            "{co}'s {drug} cleared by regulators",
        ),
        leads=(
            "The {regulator} approved {co}'s {drug} for the treatment of {indication}, clearing the way for a launch in {launch_month}.",
            "{co} won regulatory approval for {drug}, its experimental treatment for {indication}, after a successful late-stage trial.",
            "Regulators cleared {drug}, the {noun}'s therapy for {indication}, a milestone that analysts expect to boost revenue.",
        ),
        details=(
            "Analysts estimate peak annual sales of about {peak_sales}.",
            "The approval was based on a study of {patients} patients.",
            "{co} said it is ready to begin shipping the drug within weeks.",
        ),
    ),
    Event(
        "trial_success",
        "positive",
        ("clinical trials",),
        "positive trial data",
        weight=4,
        sectors=DRUG_SECTORS,
        titles=(
            "{co}'s {drug} succeeds in late-stage {indication} trial",
            "{co} reports positive phase {phase} results for {drug}",
            "{drug} meets main goal in {co} study",
            "{co} shares jump on strong {indication} trial data",
        ),
        leads=(
            "{co} said its drug {drug} met the main goal of a phase {phase} trial in {indication}, with patients showing significant improvement.",
            "A late-stage study of {co}'s {drug} in {indication} succeeded, the company said, strengthening the case for approval.",
            "The {noun} reported strong results for {drug}, which reduced symptoms by {improve_pct}% in patients with {indication}.",
        ),
        details=(
            "The trial enrolled {patients} patients across {n_sites} sites.",
            "{co} plans to file for approval in the {close_half} of {close_year}.",
            "Side effects were mild and consistent with earlier studies, the company said.",
        ),
    ),
    Event(
        "sales_surge",
        "positive",
        ("sales",),
        "strong sales",
        weight=1.5,
        sectors=("retail", "consumer_goods", "autos", "telecom", "airlines"),
        titles=(
            "{co} {metric} rise {growth}% on strong demand",
            "Strong {season} demand lifts {co} {metric}",
            "{co} reports record {metric}",
            "{co} {metric} beat forecasts",
        ),
        leads=(
            "{co} said {metric} rose {growth}% in the {qn}, ahead of analyst expectations, helped by {driver}.",
            "The {noun} reported record {metric} for the {season} season, with growth of {growth}% from a year earlier.",
            "{co}'s {metric} increased {growth}%, a strong result that suggests demand remains resilient.",
        ),
        details=(
            "Growth was strongest in {region}.",
            "The company said the trend continued into the first weeks of the {nq}.",
            "Analysts had expected growth of about {growth_est}%.",
        ),
    ),
    # ---- negative ----
    Event(
        "earnings_miss",
        "negative",
        ("earnings",),
        "earnings miss",
        weight=5,
        filing=True,
        press_release=False,
        titles=(
            "{co} misses {q} estimates as {product} sales weaken",
            "{co} {q} profit drops, shares slide",
            "{co} profit falls short on weak {product} demand",
            "{co} {qs} EPS of ${eps} misses ${eps_est} forecast",
            "{co} reports {decline}% drop in quarterly profit",
            "Disappointing {q} results from {co} as costs climb",
        ),
        leads=(
            "{co} reported {q} earnings of ${eps} a share, below the ${eps_est} analysts had forecast, as revenue declined {decline}% to {rev}.",
            "{co} said {q} net income fell {decline}% amid weak demand for its {product} and higher costs.",
            "The {noun} missed profit estimates for the {qn} of {fy}, citing weaker volumes and pricing pressure.",
            "{co} took an impairment charge of {charge} on its {product} business, pushing {q} profit well below forecasts.",
        ),
        details=(
            "Gross margin narrowed to {margin}% from {margin_prev}% a year earlier.",
            "The company recorded {charge} in restructuring and impairment charges during the quarter.",
            "Revenue from {product} declined {decline2}%, the weakest result in {n_quarters} quarters.",
            "Executives blamed softer orders, adverse currency moves and rising input costs for the shortfall.",
            "Operating cash flow dropped to {fcf} from {fcf_prev} in the same period last year.",
        ),
    ),
    Event(
        "guidance_cut",
        "negative",
        ("guidance", "earnings"),
        "outlook cut",
        weight=2,
        filing=True,
        titles=(
            "{co} cuts {fy} forecast as {product} demand weakens",
            "{co} lowers {fy} outlook, warns of margin pressure",
            "Profit warning: {co} slashes {fy} earnings guidance",
            "{co} trims revenue target to {guid_hi} amid slowdown in {product}",
            "{co} withdraws growth forecast, shares tumble {move}%",
        ),
        leads=(
            "{co} cut its {fy} revenue forecast to between {guid_lo} and {guid_hi}, citing weak demand for {product} and rising costs.",
            "{co} now expects full-year earnings of ${eps_g_lo} to ${eps_g_hi} a share, below its prior outlook and short of analyst estimates.",
            "The {noun} lowered its annual guidance, warning that a slowdown in {product} orders would hurt results for the rest of the year.",
        ),
        details=(
            "The revised midpoint implies a decline of about {decline}% from last year.",
            "Management said customers were delaying purchases and reducing inventory.",
            "The company warned that operating margin could fall by as much as {bps} basis points.",
            "Executives flagged higher labour costs and adverse currency movements as additional headwinds.",
        ),
    ),
    Event(
        "dividend_cut",
        "negative",
        ("dividends",),
        "dividend cut",
        weight=1,
        filing=True,
        sectors=NO_DIVIDEND,
        titles=(
            "{co} cuts dividend by {div_pct}% to preserve cash",
            "{co} slashes payout by {div_pct}% as earnings decline",
            "{co} reduces quarterly dividend to ${div_new}",
            "Dividend cut to ${div_new} at {co} signals deeper trouble",
            "{co} lowers payout to ${div_new} a share after weak year",
        ),
        leads=(
            "{co} cut its quarterly dividend by {div_pct}% to ${div_new} a share from ${div_old}, saying it needs to preserve cash after a difficult year.",
            "The board of {co} reduced the dividend to ${div_new} per share, citing lower earnings and rising debt.",
            "{co} lowered its payout for the first time in {streak} years as losses mounted in its {product} business.",
        ),
        details=(
            "The company said the reduction would save about {savings} a year.",
            "Analysts had warned that the previous payout was not covered by earnings.",
            "Management said the dividend will be reviewed again once results improve.",
        ),
    ),
    Event(
        "layoffs",
        "negative",
        ("layoffs", "restructuring"),
        "job cuts",
        weight=2.5,
        filing=True,
        titles=(
            "{co} to cut {jobs} jobs in restructuring",
            "{co} announces layoffs affecting {jobs_pct}% of workforce",
            "{co} slashes {jobs} positions as sales decline",
            "{co} plans {jobs} job cuts, closes offices",
            "Restructuring at {co}: {jobs} employees to lose jobs",
        ),
        leads=(
            "{co} will eliminate about {jobs} jobs, or {jobs_pct}% of its workforce, in a restructuring aimed at cutting costs after weak results.",
            "{co} announced layoffs of roughly {jobs} employees, saying declining demand for its {product} forced it to reduce costs.",
            "The {noun} said it will cut {jobs} positions and record restructuring charges of about {charge}.",
        ),
        details=(
            "The company expects the cuts to save about {savings} a year once complete.",
            "Most of the reductions will affect {unit_area} staff in {region}.",
            "Unions criticised the decision and said they would challenge the layoffs.",
            "It is the {nth} round of job cuts at the company in two years.",
        ),
    ),
    Event(
        "regulatory_fine",
        "negative",
        ("regulation", "fines"),
        "regulatory fine",
        weight=1,
        press_release=False,
        filing=True,
        titles=(
            "{regulator} fines {co} {fine} over {violation}",
            "{co} hit with {fine} penalty over {violation}",
            "{co} to pay {fine} to resolve {regulator} charges",
            "Regulators penalise {co} for breaching rules on {violation}",
        ),
        leads=(
            "The {regulator} fined {co} {fine} after finding that the company failed to comply with rules on {violation}.",
            "{co} agreed to pay a {fine} penalty to resolve allegations by the {regulator} over {violation}.",
            "The {noun} was penalised {fine} over {violation}, one of the largest fines the {regulator} has imposed on the industry.",
        ),
        details=(
            "The regulator said the violations occurred between {viol_year} and {fy}.",
            "{co} said it has strengthened its compliance controls.",
            "The fine follows a {months}-month investigation.",
            "Critics said the penalty was small relative to the company's annual profit.",
        ),
    ),
    Event(
        "regulatory_probe",
        "negative",
        ("regulation", "investigations"),
        "regulatory probe",
        weight=1,
        press_release=False,
        filing=True,
        titles=(
            "{regulator} opens investigation into {co} over {violation}",
            "{co} faces regulatory probe over {violation}",
            "{co} shares fall {move}% as {regulator} launches inquiry",
            "{co} under investigation over {violation}",
        ),
        leads=(
            "The {regulator} opened an investigation into {co} over possible breaches of rules on {violation}.",
            "{co} disclosed that it is the subject of a regulatory probe into {violation}, adding to pressure on the {noun}.",
            "Regulators are examining whether {co} violated rules on {violation}, according to people familiar with the matter.",
        ),
        details=(
            "The company said it is cooperating fully with the investigation.",
            "A finding against the company could lead to significant penalties.",
            "The probe covers the period from {viol_year} to {fy}.",
        ),
    ),
    Event(
        "lawsuit_filed",
        "negative",
        ("litigation",),
        "lawsuit",
        weight=1.5,
        press_release=False,
        filing=True,
        titles=(
            "{co} sued over {claim}",
            "{co} faces {claim_amt} lawsuit over {claim}",
            "Lawsuit filed against {co} over {claim}",
            "{co} hit with lawsuit over {claim}",
            "{plaintiff_cap} files suit against {co}",
        ),
        leads=(
            "{plaintiff_cap} filed a lawsuit against {co} seeking {claim_amt} in damages over {claim}.",
            "{co} was named in a complaint over {claim}, according to court documents.",
            "The {noun} faces litigation after {plaintiff} filed a complaint over {claim} this week.",
        ),
        details=(
            "The complaint was filed in federal court in {court_city}.",
            "{co} said the claims are without merit and it will defend itself vigorously.",
            "Legal experts said the case could take years to resolve.",
            "The lawsuit adds to a series of legal problems for the company.",
        ),
    ),
    Event(
        "rating_downgrade",
        "negative",
        ("credit ratings",),
        "credit downgrade",
        weight=1,
        press_release=False,
        titles=(
            "{agency} downgrades {co} to {rating_to}",
            "{co} credit rating cut to {rating_to} as debt rises",
            "{agency} lowers {co} rating to {rating_to}, cites weak cash flow",
            "{co} suffers credit downgrade to {rating_to} from {agency}",
        ),
        leads=(
            "{agency} downgraded {co}'s long-term credit rating to {rating_to} from {rating_from}, citing weak cash flow and rising leverage.",
            "{co} was cut by one notch to {rating_to} by {agency}, which warned that losses could continue.",
            "{agency} lowered its rating on the {noun}, saying the deterioration in earnings makes it harder to reduce debt.",
        ),
        details=(
            "The agency assigned a negative outlook, signalling that further cuts are possible.",
            "Net debt has risen to about {leverage} times earnings, the agency said.",
            "The downgrade is likely to increase the company's borrowing costs.",
        ),
    ),
    Event(
        "analyst_downgrade",
        "negative",
        ("analyst ratings",),
        "analyst downgrade",
        weight=1.5,
        press_release=False,
        titles=(
            "{broker} downgrades {co} to {rating_down}",
            "{co} downgraded at {broker} on weak {product} outlook",
            "{broker} cuts {co} price target to ${pt_new}",
            "{co} falls after {broker} downgrade",
        ),
        leads=(
            "{broker} downgraded {co} to {rating_down} from {rating_mid} and cut its price target to ${pt_new} from ${pt_old}, citing weakening {product} demand.",
            "Analysts at {broker} turned negative on {co}, warning that earnings are likely to disappoint next year.",
            "{broker} lowered its price target on the {noun} to ${pt_new}, saying rising costs and weak demand will hurt margins.",
        ),
        details=(
            "The broker expects margins to decline further as pricing pressure builds.",
            "{analyst}, who covers the stock, said the risks to earnings are growing.",
            "The new target implies a drop of about {upside}% from the last close.",
        ),
    ),
    Event(
        "supply_disruption",
        "negative",
        ("supply chain",),
        "supply problems",
        weight=1,
        press_release=False,
        sectors=("semiconductors", "autos", "consumer_goods", "industrials", "renewables", "retail", "pharma"),
        titles=(
            "{co} warns supply shortages will hit {product} output",
            "Shortage of {input} forces {co} to cut production",
            "{co} hit by supply chain disruption in {region}",
            "{co} delays shipments after {supply_cause}",
        ),
        leads=(
            "{co} warned that a shortage of {input} will reduce output of its {product} for several weeks.",
            "{co} said supply chain problems in {region}, including {supply_cause}, would hurt {q} sales.",
            "The {noun} cut its production plans after {supply_cause} disrupted deliveries of {input}.",
        ),
        details=(
            "The company estimated the lost revenue at about {charge}.",
            "It is working with alternative suppliers, but said shortages could persist into the {nq}.",
            "Customers face delays of up to {months} weeks on some orders.",
        ),
    ),
    Event(
        "data_breach",
        "negative",
        ("cybersecurity", "data breach"),
        "data breach",
        weight=1,
        press_release=False,
        sectors=("banks", "insurance", "software", "telecom", "retail", "airlines"),
        titles=(
            "{co} discloses data breach affecting {records} customers",
            "Hackers steal data on {records} customers from {co}",
            "{co} hit by cyberattack, {records} records exposed",
            "{co} investigates security breach at its {system}",
        ),
        leads=(
            "{co} said hackers gained access to its {system} and stole personal data belonging to about {records} customers.",
            "{co} disclosed a cyberattack that exposed names, addresses and account details of {records} customers.",
            "The {noun} is investigating a security breach of its {system} that may have compromised customer records.",
        ),
        details=(
            "The company said it has notified the {regulator} and law enforcement.",
            "Customers have been offered free credit monitoring.",
            "Security researchers said the attackers exploited an unpatched vulnerability.",
            "The breach could expose the company to fines and lawsuits.",
        ),
    ),
    Event(
        "plant_closure",
        "negative",
        ("operations", "restructuring"),
        "site closure",
        weight=1,
        sectors=MANUFACTURERS,
        titles=(
            "{co} to close {place} {facility}",
            "{co} shuts {facility}, {plant_jobs} jobs lost",
            "{co} halts production at {place} {facility} amid weak demand",
            "{co} closing {facility} in {place} as losses mount",
        ),
        leads=(
            "{co} will close its {facility} in {place}, cutting {plant_jobs} jobs, as weak demand leaves the site unprofitable.",
            "{co} said it will halt production at its {place} {facility} and record an impairment charge of {charge}.",
            "The {noun} is shutting its {facility} in {place}, the latest sign of trouble in its {product} business.",
        ),
        details=(
            "The closure is expected to be complete by the end of {close_year}.",
            "Local officials said the loss of {plant_jobs} jobs would hurt the regional economy.",
            "Production will move to other sites, the company said.",
        ),
    ),
    Event(
        "recall",
        "negative",
        ("recalls", "product safety"),
        "recall",
        weight=1.5,
        sectors=("autos", "pharma", "consumer_goods", "retail", "industrials"),
        titles=(
            "{co} recalls {units} {recall_item} over {defect}",
            "{co} issues recall of {recall_item} due to {defect}",
            "{co} recall of {recall_item} prompted by {defect}",
            "{co} pulls {recall_item} from the market over {defect}",
        ),
        leads=(
            "{co} is recalling {units} {recall_item} because of {defect}, according to a notice from the {regulator}.",
            "{co} issued a recall of {recall_item} after reports of {defect}, and expects a charge of about {charge}.",
            "The {noun} recalled {units} {recall_item} over {defect}, the latest in a series of quality problems.",
        ),
        details=(
            "The company said it was aware of {n_incidents} incidents but no serious injuries.",
            "Customers can return affected products for a full refund or free repair.",
            "The recall is expected to weigh on {q} earnings.",
        ),
    ),
    Event(
        "default_risk",
        "negative",
        ("bankruptcy", "debt"),
        "debt crisis",
        weight=0.8,
        filing=True,
        press_release=False,
        titles=(
            "{co} warns of possible default on {debt} of debt",
            "{co} raises going-concern doubt, shares sink {move}%",
            "{co} hires restructuring advisers ahead of {debt} debt deadline",
            "{co} misses interest payment on {debt} of bonds",
            "Bankruptcy fears grow at {co} as {product} losses mount",
        ),
        leads=(
            "{co} warned that it may be unable to repay {debt} of debt due next year, raising the risk of default.",
            "{co} said there is substantial doubt about its ability to continue as a going concern after heavy losses.",
            "The {noun} missed an interest payment on {debt} of bonds and has hired advisers to negotiate with creditors.",
        ),
        details=(
            "The company has a grace period of {grace_days} days before the missed payment becomes a default.",
            "Bondholders have formed a group to negotiate a restructuring.",
            "Analysts said a bankruptcy filing is possible if talks fail.",
        ),
    ),
    Event(
        "ceo_departure",
        "negative",
        ("leadership",),
        "CEO exit",
        weight=1,
        press_release=False,
        titles=(
            "{co} CEO {old_person} steps down abruptly",
            "{co} chief executive resigns amid {reason}",
            "{co} ousts CEO {old_person} after weak results",
            "Leadership turmoil at {co} as CEO {old_person} departs",
        ),
        leads=(
            "{co} said chief executive {old_person} has resigned with immediate effect, following {reason}.",
            "The board of {co} removed {old_person} as CEO after a period of poor performance and {reason}.",
            "{old_person} stepped down as head of the {noun} amid {reason}, leaving the company without a permanent leader.",
        ),
        details=(
            "The company named an interim chief executive while it searches for a replacement.",
            "The departure comes weeks after the company cut its outlook.",
            "Investors have criticised the board for failing to address the decline sooner.",
        ),
    ),
    Event(
        "trial_failure",
        "negative",
        ("clinical trials",),
        "failed trial",
        weight=5,
        sectors=DRUG_SECTORS,
        press_release=False,
        titles=(
            "{co}'s {drug} fails late-stage {indication} trial",
            "{co} halts {drug} study after disappointing results",
            "{drug} misses primary goal in {co} trial",
            "{co} shares plunge as {indication} drug trial fails",
        ),
        leads=(
            "{co} said its experimental drug {drug} failed to meet the main goal of a phase {phase} trial in {indication}.",
            "A late-stage study of {co}'s {drug} in {indication} did not show a significant benefit, a major setback for the {noun}.",
            "{co} stopped a trial of {drug} after an interim analysis showed the treatment was unlikely to succeed in {indication}.",
        ),
        details=(
            "The company will record an impairment of {charge} on the program.",
            "The trial enrolled {patients} patients across {n_sites} sites.",
            "Analysts had counted on {drug} for a large share of future revenue.",
        ),
    ),
    Event(
        "fuel_costs",
        "negative",
        ("fuel costs", "earnings"),
        "fuel cost warning",
        weight=4,
        sectors=("airlines",),
        press_release=False,
        titles=(
            "{co} warns rising fuel costs will hurt {q} profit",
            "Higher jet fuel prices squeeze {co} {q} margins",
            "{co} cuts {fy} profit outlook on soaring fuel bill",
            "{co} says fuel expenses jumped {fuel_pct}%",
        ),
        leads=(
            "{co} warned that higher jet fuel prices will reduce {q} profit, with fuel costs up {fuel_pct}% from a year earlier.",
            "{co} said its fuel bill rose {fuel_pct}% in the quarter, eroding margins despite strong demand.",
            "The {noun} lowered its earnings forecast, citing a sharp increase in fuel costs that it cannot fully pass on to passengers.",
        ),
        details=(
            "Fuel accounts for about {fuel_share}% of the airline's operating costs.",
            "The company has hedged only part of its fuel needs for the coming months.",
            "Management said it may trim capacity on weaker routes to protect margins.",
        ),
    ),
    Event(
        "credit_losses",
        "negative",
        ("credit quality", "earnings"),
        "rising loan losses",
        weight=3,
        sectors=("banks",),
        press_release=False,
        filing=True,
        titles=(
            "{co} sets aside {provision} for bad loans",
            "{co} profit falls {decline}% on rising loan losses",
            "{co} boosts credit-loss provisions to {provision} as defaults climb",
            "Souring {loan_type} loans weigh on {co}",
        ),
        leads=(
            "{co} increased provisions for bad loans to {provision}, warning that defaults on {loan_type} loans are rising.",
            "{co} said quarterly profit fell {decline}% after it set aside more money to cover losses on {loan_type} loans.",
            "The {noun} reported a jump in loan losses, with charge-offs rising to {chargeoff}% of its {loan_type} portfolio.",
        ),
        details=(
            "Delinquencies rose for the {nth} consecutive quarter.",
            "Management said it has tightened lending standards.",
            "Analysts said the provisions were larger than expected.",
        ),
    ),
    Event(
        "catastrophe_losses",
        "negative",
        ("catastrophe losses", "earnings"),
        "catastrophe losses",
        weight=3,
        sectors=("insurance",),
        press_release=False,
        titles=(
            "{co} expects {cat_loss} in {cat_event} losses",
            "{co} warns {cat_event} claims will hurt {q} results",
            "{cat_event_cap} claims push {co} to underwriting loss",
            "{co} takes {cat_loss} hit from {cat_event}",
        ),
        leads=(
            "{co} estimated its losses from the {cat_event} at {cat_loss}, which will push it to an underwriting loss for the quarter.",
            "{co} warned that catastrophe claims from the {cat_event} will significantly reduce {q} earnings.",
            "The {noun} said claims related to the {cat_event} reached {cat_loss}, well above its budget for such losses.",
        ),
        details=(
            "The combined ratio is expected to exceed {combined_ratio}%.",
            "The company said its reinsurance program will absorb part of the losses.",
            "Analysts expect higher premiums next year after the losses.",
        ),
    ),
    Event(
        "sales_slump",
        "negative",
        ("sales",),
        "sales slump",
        weight=1.5,
        sectors=("retail", "consumer_goods", "autos", "telecom", "airlines"),
        press_release=False,
        titles=(
            "{co} {metric} fall {decline}% as demand weakens",
            "Weak {season} demand hits {co} {metric}",
            "{co} reports decline in {metric}",
            "{co} {metric} miss forecasts",
        ),
        leads=(
            "{co} said {metric} fell {decline}% in the {qn}, worse than analysts expected, as consumers cut back.",
            "The {noun} reported a decline of {decline}% in {metric} for the {season} season, blaming weak demand.",
            "{co}'s {metric} dropped {decline}%, a disappointing result that adds to concerns about the outlook.",
        ),
        details=(
            "The decline was steepest in {region}.",
            "The company said heavy discounting failed to offset lower volumes.",
            "Analysts had expected growth of about {growth_est}%.",
        ),
    ),
    Event(
        "outage",
        "negative",
        ("outage", "operations"),
        "service outage",
        weight=1.5,
        sectors=("telecom", "airlines", "banks", "software"),
        press_release=False,
        titles=(
            "{co} outage leaves customers without service for {hours} hours",
            "{co} suffers major failure of its {system}",
            "Systems failure at {co} disrupts {service}",
            "{co} apologises after {hours}-hour outage",
        ),
        leads=(
            "A failure of {co}'s {system} disrupted {service} for about {hours} hours, affecting millions of customers.",
            "{co} apologised after an outage of its {system} left customers unable to use {service}.",
            "The {noun} said a faulty software update caused the failure of its {system}.",
        ),
        details=(
            "The {regulator} said it will review the incident.",
            "The company said it will compensate affected customers.",
            "It was the {nth} serious outage at the company this year.",
        ),
    ),
    # ---- neutral ----
    Event(
        "earnings_date",
        "neutral",
        ("earnings", "corporate calendar"),
        "results date",
        weight=2,
        analysis=False,
        titles=(
            "{co} to report {q} results on {report_date}",
            "{co} schedules {q} earnings call for {report_date}",
            "{co} sets date for {qs} {fy} results announcement",
            "{co} will publish quarterly results on {report_date}",
        ),
        leads=(
            "{co} will release its {q} financial results before the market opens on {report_date}, followed by a conference call.",
            "{co} said it will report results for the {qn} of {fy} on {report_date}.",
            "The {noun} scheduled its {q} earnings announcement for {report_date}.",
        ),
        details=(
            "A webcast of the call will be available on the company's investor relations website.",
            "Analysts on average expect earnings of ${eps_est} a share.",
            "The company will also host a question-and-answer session with analysts.",
        ),
    ),
    Event(
        "annual_meeting",
        "neutral",
        ("shareholder meeting", "governance"),
        "annual meeting",
        weight=1,
        filing=True,
        analysis=False,
        titles=(
            "{co} to hold annual shareholder meeting on {meeting_date}",
            "{co} shareholders to vote on {n_directors} board nominees at annual meeting",
            "{co} publishes agenda for {fy} annual meeting",
            "{co} sets {meeting_date} date for annual meeting",
        ),
        leads=(
            "{co} will hold its annual meeting of shareholders on {meeting_date} in {hq}.",
            "Shareholders of {co} will vote on the election of {n_directors} directors at the annual meeting on {meeting_date}.",
            "The {noun} published the agenda for its annual meeting, including a vote on executive pay.",
        ),
        details=(
            "Shareholders of record as of {record_date} are entitled to vote.",
            "The meeting will also be available online.",
            "The board recommends that shareholders vote for all nominees.",
        ),
    ),
    Event(
        "ceo_appointment",
        "neutral",
        ("leadership",),
        "CEO appointment",
        weight=1,
        filing=True,
        titles=(
            "{co} names {person} chief executive",
            "{co} appoints {person} as CEO, effective {eff_date}",
            "{person} to succeed {old_person} as {co} CEO",
            "{co} board selects {person} to lead company",
        ),
        leads=(
            "{co} appointed {person} as chief executive, effective {eff_date}, succeeding {old_person}.",
            "The board of {co} named {person}, currently {prev_role}, as the company's next CEO.",
            "{person} will take over as chief executive of the {noun} on {eff_date}, the company said.",
        ),
        details=(
            "{person} joined the company {years} years ago.",
            "The board said the leadership transition will be complete by {eff_date}.",
            "The appointment follows a search that began earlier this year.",
        ),
    ),
    Event(
        "merger_completed",
        "neutral",
        ("mergers and acquisitions",),
        "completed acquisition",
        weight=1,
        filing=True,
        titles=(
            "{co} completes acquisition of {target}",
            "{co} closes {deal_value} purchase of {target}",
            "{co} finalises {target} deal after regulatory clearance",
            "{co} completes previously announced {target} transaction",
        ),
        leads=(
            "{co} said it has completed its previously announced acquisition of {target} for {deal_value}.",
            "{co} closed its purchase of {target} after receiving all required approvals.",
            "The {noun} completed the {deal_value} transaction for {target}, which will now operate as a unit of {co}.",
        ),
        details=(
            "{target} will be reported as part of the {product} segment starting next quarter.",
            "The company will include {target} in its guidance with the next quarterly report.",
            "{co} said integration planning is under way.",
        ),
    ),
    Event(
        "lawsuit_settled",
        "neutral",
        ("litigation",),
        "legal settlement",
        weight=1,
        filing=True,
        titles=(
            "{co} settles case over {claim} for {settlement}",
            "{co} reaches settlement with {plaintiff}",
            "{co} agrees {settlement} settlement over {claim}",
            "{co} resolves legal dispute over {claim}",
        ),
        leads=(
            "{co} agreed to pay {settlement} to settle a lawsuit over {claim}.",
            "{co} reached a settlement with {plaintiff} in a case over {claim}, according to a court filing.",
            "The {noun} resolved a long-running case over {claim} with a payment of {settlement}.",
        ),
        details=(
            "The settlement is subject to court approval.",
            "The company said the amount had already been reserved.",
            "The case was filed in {court_city} in {viol_year}.",
        ),
    ),
    Event(
        "ipo",
        "neutral",
        ("ipo", "capital markets"),
        "IPO plan",
        weight=1,
        filing=True,
        titles=(
            "{co} files to list its {unit} unit",
            "{co} plans initial public offering of {unit} business",
            "{co} sets terms for {unit} IPO",
            "{co}'s {unit} unit prepares stock market debut",
        ),
        leads=(
            "{co} filed for an initial public offering of its {unit} business, which it plans to list in the {close_half} of {close_year}.",
            "{co} said it will offer {ipo_shares} million shares of its {unit} unit at between ${ipo_lo} and ${ipo_hi} each.",
            "The {noun} is preparing a stock market listing for its {unit} unit.",
        ),
        details=(
            "{co} will keep a majority stake after the offering.",
            "{broker} and another bank are leading the offering.",
            "The unit had revenue of {unit_rev} last year.",
        ),
    ),
    Event(
        "debt_offering",
        "neutral",
        ("debt", "capital markets"),
        "bond sale",
        weight=1,
        filing=True,
        analysis=False,
        titles=(
            "{co} prices {debt} of senior notes",
            "{co} sells {debt} in bonds due {maturity}",
            "{co} taps bond market with {debt} offering",
            "{co} issues {coupon}% notes due {maturity}",
        ),
        leads=(
            "{co} priced {debt} of senior unsecured notes due {maturity} with a coupon of {coupon}%.",
            "{co} sold {debt} of bonds in {n_tranches} parts, with maturities of up to {maturity_years} years.",
            "The {noun} raised {debt} in the bond market to refinance existing debt.",
        ),
        details=(
            "Proceeds will be used to repay notes maturing next year and for general corporate purposes.",
            "The offering is expected to settle on {pay_date}.",
            "{broker} acted as lead manager.",
        ),
    ),
    Event(
        "regular_dividend",
        "neutral",
        ("dividends",),
        "dividend declaration",
        weight=1,
        sectors=NO_DIVIDEND,
        analysis=False,
        filing=True,
        titles=(
            "{co} declares quarterly dividend of ${div_old}",
            "{co} maintains dividend at ${div_old} a share",
            "{co} board declares regular cash dividend of ${div_old}",
            "{co} keeps quarterly payout unchanged at ${div_old}",
        ),
        leads=(
            "{co} declared a regular quarterly dividend of ${div_old} per share, unchanged from the previous quarter.",
            "The board of {co} declared a cash dividend of ${div_old} a share, payable on {pay_date}.",
            "The {noun} kept its quarterly dividend at ${div_old} a share.",
        ),
        details=(
            "The dividend is payable to shareholders of record on {record_date}.",
            "The company has paid a dividend every quarter for {streak} years.",
            "The payout was in line with expectations.",
        ),
    ),
    Event(
        "investor_day",
        "neutral",
        ("investor relations", "corporate calendar"),
        "investor day",
        weight=1,
        analysis=False,
        titles=(
            "{co} to host investor day on {meeting_date}",
            "{co} to present at {conference}",
            "{co} management to meet investors at {conference}",
            "{co} schedules capital markets day for {meeting_date}",
        ),
        leads=(
            "{co} will host an investor day on {meeting_date}, where management will discuss its strategy and financial targets.",
            "{co}'s chief financial officer will present at {conference} on {meeting_date}.",
            "The {noun} scheduled a capital markets day for {meeting_date} in {hq}.",
        ),
        details=(
            "The presentation will be webcast live.",
            "The company last updated its medium-term targets {years} years ago.",
            "Slides will be posted on the company's website before the event.",
        ),
    ),
    Event(
        "filing",
        "neutral",
        ("regulatory filings",),
        "filing",
        weight=1,
        filing=True,
        analysis=False,
        titles=(
            "{co} files annual report for fiscal {fy_prev}",
            "{co} {qs} filing details segment results",
            "{co} files {qs} report with regulators",
            "{co} discloses executive pay in {fy} proxy filing",
        ),
        leads=(
            "{co} filed its annual report for fiscal {fy_prev} with the {market_regulator}.",
            "{co}'s quarterly report, filed on {weekday}, breaks down revenue by segment and region.",
            "The {noun} disclosed executive compensation details in its annual proxy statement.",
        ),
        details=(
            "The filing shows the company had about {employees} employees at year-end.",
            "The report lists {region} as its largest market outside the home country.",
            "No changes to previously reported figures were disclosed.",
        ),
    ),
)

MACRO_EVENTS: tuple[Event, ...] = (
    Event(
        "rate_hike",
        "negative",
        ("interest rates", "central banks"),
        "rate hike",
        weight=1.6,
        macro="interest_rates",
        sectors=("real_estate", "banks", "retail", "autos", "renewables", "software"),
        titles=(
            "{cb} raises rates by {bp} basis points to {rate_new}%",
            "{cb_short_cap} hikes interest rates to {rate_new}%, signals more tightening",
            "Rate hike from {cb} rattles {snouns}; {co1} falls {move}%",
            "{cb} lifts benchmark rate to {rate_new}% to fight stubborn inflation",
            "Borrowing costs climb as {cb} takes rates to {rate_new}%",
        ),
        leads=(
            "The {cb} raised its benchmark interest rate by {bp} basis points to {rate_new}%, saying inflation remains too high.",
            "Policymakers at the {cb} increased borrowing costs for the {nth} time this year, lifting the policy rate to {rate_new}%.",
            "The {cb} surprised some investors with a {bp} basis-point rate increase and warned that further tightening may be needed.",
        ),
        details=(
            "Rate-sensitive {snouns} fell, with {co1} down {move}%.",
            "Policymakers voted {votes} in favour of the increase.",
            "Futures markets now price in another increase before year-end.",
            "Higher borrowing costs are likely to weigh on demand, analysts warned.",
        ),
    ),
    Event(
        "rate_cut",
        "positive",
        ("interest rates", "central banks"),
        "rate cut",
        weight=1.6,
        macro="interest_rates",
        sectors=("real_estate", "banks", "retail", "autos", "renewables", "software"),
        titles=(
            "{cb} cuts rates by {bp} basis points to {rate_new}%",
            "{cb_short_cap} lowers interest rates to {rate_new}% as inflation eases",
            "Rate cut from {cb} lifts {snouns}; {co1} up {move}%",
            "{cb} eases policy, cutting rate to {rate_new}%; more cuts signalled",
            "Borrowing costs fall as {cb} trims benchmark rate to {rate_new}%",
        ),
        leads=(
            "The {cb} cut its benchmark interest rate by {bp} basis points to {rate_new}%, citing improving inflation and slower growth.",
            "Policymakers at the {cb} lowered borrowing costs, bringing the policy rate to {rate_new}% and boosting stocks.",
            "The {cb} delivered a {bp} basis-point rate reduction and said further easing is possible if inflation keeps improving.",
        ),
        details=(
            "Rate-sensitive {snouns} rallied, with {co1} up {move}%.",
            "Policymakers voted {votes} in favour of the cut.",
            "Lower rates should support borrowing and spending, economists said.",
            "Government bond yields fell after the decision.",
        ),
    ),
    Event(
        "rate_hold",
        "neutral",
        ("interest rates", "central banks"),
        "rate decision",
        weight=1.2,
        macro="interest_rates",
        sectors=("banks", "real_estate", "insurance"),
        titles=(
            "{cb} holds rates steady at {rate_old}%",
            "{cb} leaves policy unchanged; next meeting on {meeting_date}",
            "{cb} keeps benchmark rate at {rate_old}%, as expected",
            "No change from {cb} as policymakers wait for {month} data",
        ),
        leads=(
            "The {cb} kept its benchmark interest rate at {rate_old}%, in line with market expectations.",
            "Policymakers at the {cb} left rates unchanged and said future decisions will depend on incoming data.",
            "The {cb} held its policy rate at {rate_old}% for a {nth} consecutive meeting.",
        ),
        details=(
            "The next policy meeting is scheduled for {meeting_date}.",
            "The decision was unanimous.",
            "{snouns_cap} were little changed after the announcement.",
        ),
    ),
    Event(
        "inflation_hot",
        "negative",
        ("inflation", "economy"),
        "hot inflation data",
        weight=1,
        macro="inflation",
        sectors=("retail", "consumer_goods", "real_estate", "software"),
        titles=(
            "Inflation accelerates to {cpi}% in {month}, above forecasts",
            "Hotter-than-expected {cpi}% inflation hits {snouns}",
            "Consumer prices rise {cpi}% as inflation proves stubborn",
            "{month} inflation surprise dims hopes for rate cuts",
        ),
        leads=(
            "Consumer prices rose {cpi}% in {month} from a year earlier, above the {cpi_est}% economists expected, according to the {stats}.",
            "Inflation picked up to {cpi}% in {month}, a worrying sign for policymakers, as food and housing costs climbed.",
            "Core inflation, which excludes food and energy, rose to {core}% in {month}, stronger than forecast.",
        ),
        details=(
            "{snouns_cap} fell on concern that higher costs will squeeze consumers, with {co1} down {move}%.",
            "Economists said the data makes a rate cut at the next meeting unlikely.",
            "Prices for services rose at the fastest pace in {n_months} months.",
        ),
    ),
    Event(
        "inflation_cool",
        "positive",
        ("inflation", "economy"),
        "cooler inflation",
        weight=1,
        macro="inflation",
        sectors=("retail", "consumer_goods", "real_estate", "software"),
        titles=(
            "Inflation slows to {cpi}% in {month}, better than expected",
            "Cooling {month} inflation lifts {snouns}",
            "Consumer price growth eases to {cpi}%",
            "Core inflation slows to {core}%, boosting hopes for lower rates",
        ),
        leads=(
            "Consumer prices rose {cpi}% in {month} from a year earlier, below the {cpi_est}% economists expected, according to the {stats}.",
            "Inflation eased to {cpi}% in {month}, an encouraging sign that price pressures are fading.",
            "Core inflation slowed to {core}% in {month}, its lowest level in {n_months} months.",
        ),
        details=(
            "{snouns_cap} gained, with {co1} up {move}%.",
            "Economists said the improvement strengthens the case for lower interest rates.",
            "Falling energy and goods prices drove the slowdown.",
        ),
    ),
    Event(
        "inflation_inline",
        "neutral",
        ("inflation", "economy"),
        "inflation data",
        weight=1,
        macro="inflation",
        sectors=("retail", "consumer_goods", "real_estate"),
        titles=(
            "Inflation at {cpi}% in {month}, matching forecasts",
            "Consumer prices rise {cpi}% in {month}, in line with estimates",
            "{month} consumer prices up {cpi}%, as economists forecast",
            "Inflation holds at {cpi}% in {month}",
        ),
        leads=(
            "Consumer prices rose {cpi}% in {month} from a year earlier, matching the consensus estimate, the {stats} said.",
            "The {stats} said annual inflation was {cpi}% in {month}, close to the consensus forecast.",
            "Annual inflation was {cpi}% in {month}, unchanged from the previous reading.",
        ),
        details=(
            "Core inflation was {core}%.",
            "The next release is scheduled for {meeting_date}.",
            "Markets showed little reaction to the figures.",
        ),
    ),
    Event(
        "jobs_strong",
        "positive",
        ("jobs", "economy"),
        "strong jobs report",
        weight=1,
        macro="jobs",
        sectors=("retail", "banks", "industrials", "consumer_goods"),
        titles=(
            "Employers add {payrolls} jobs in {month}, beating forecasts",
            "Strong {month} hiring lifts {snouns}",
            "Jobs report shows robust labour market as unemployment falls to {unemp}%",
            "Payrolls surge in {month}, easing recession fears",
        ),
        leads=(
            "Employers added {payrolls} jobs in {month}, well above the {payrolls_est} economists expected, and the unemployment rate fell to {unemp}%.",
            "The labour market remained strong in {month}, with solid gains in hiring and higher wages, the {stats} reported.",
            "Hiring accelerated in {month} as employers added {payrolls} positions, a sign of a resilient economy.",
        ),
        details=(
            "{snouns_cap} gained on expectations of strong consumer spending, with {co1} up {move}%.",
            "Average hourly earnings rose {wages}% from a year earlier.",
            "Gains were broad-based across services and manufacturing.",
        ),
    ),
    Event(
        "jobs_weak",
        "negative",
        ("jobs", "economy"),
        "weak jobs report",
        weight=1,
        macro="jobs",
        sectors=("retail", "banks", "industrials", "consumer_goods"),
        titles=(
            "Employers add just {payrolls} jobs in {month}, missing forecasts",
            "Weak {month} jobs report hits {snouns}",
            "Unemployment rises to {unemp}% as hiring slows",
            "Payrolls disappoint in {month}, raising recession worries",
        ),
        leads=(
            "Employers added only {payrolls} jobs in {month}, far below the {payrolls_est} economists expected, and unemployment rose to {unemp}%.",
            "The labour market weakened in {month}, with layoffs increasing and hiring slowing, the {stats} reported.",
            "Hiring slowed sharply in {month}, adding to concerns that the economy is losing momentum.",
        ),
        details=(
            "{snouns_cap} declined, with {co1} down {move}%.",
            "Revisions cut earlier job gains by {revision} positions.",
            "Economists warned that weaker hiring could hurt consumer spending.",
        ),
    ),
    Event(
        "jobs_inline",
        "neutral",
        ("jobs", "economy"),
        "jobs report",
        weight=0.8,
        macro="jobs",
        sectors=("retail", "banks", "industrials"),
        titles=(
            "Employers add {payrolls} jobs in {month}, close to forecasts",
            "Hiring steady in {month} as payrolls grow {payrolls}",
            "Unemployment steady at {unemp}% in {month}",
            "Payrolls rise {payrolls} in {month}, in line with estimates",
        ),
        leads=(
            "Employers added {payrolls} jobs in {month}, close to the consensus estimate, and the unemployment rate held at {unemp}%.",
            "The {stats} said payrolls grew by {payrolls} in {month}, roughly as forecast.",
            "Hiring in {month} was in line with expectations, according to the {stats}.",
        ),
        details=(
            "Average hourly earnings rose {wages}% from a year earlier.",
            "The participation rate was unchanged.",
            "Markets showed little reaction to the report.",
        ),
    ),
    Event(
        "gdp_growth",
        "positive",
        ("economic growth", "economy"),
        "GDP growth",
        weight=0.8,
        macro="growth",
        sectors=("industrials", "banks", "retail", "autos"),
        titles=(
            "Economy grows {gdp}% in {qn}, beating forecasts",
            "Strong {qn} GDP data lifts {snouns}",
            "Growth accelerates to {gdp}% as consumer spending improves",
            "GDP expands {gdp}%, stronger than expected",
        ),
        leads=(
            "The economy grew at an annualised rate of {gdp}% in the {qn}, above the {gdp_est}% economists expected, the {stats} said.",
            "Economic growth accelerated in the {qn}, driven by strong consumer spending and business investment.",
            "Output expanded {gdp}% in the {qn}, a solid gain that eased recession concerns.",
        ),
        details=(
            "{snouns_cap} gained, with {co1} up {move}%.",
            "Business investment rose at the fastest pace in {n_months} months.",
            "Economists raised their forecasts for the full year.",
        ),
    ),
    Event(
        "gdp_contraction",
        "negative",
        ("economic growth", "economy"),
        "economic contraction",
        weight=0.8,
        macro="growth",
        sectors=("industrials", "banks", "retail", "autos"),
        titles=(
            "Economy shrinks {gdp_neg}% in {qn}, raising recession fears",
            "Weak {qn} GDP data hits {snouns}",
            "Economy contracts {gdp_neg}% as consumer spending declines",
            "GDP contracts unexpectedly in {qn}",
        ),
        leads=(
            "The economy contracted at an annualised rate of {gdp_neg}% in the {qn}, worse than economists expected, the {stats} said.",
            "Economic output declined in the {qn} as consumer spending weakened and business investment fell.",
            "A surprise contraction in the {qn} raised concerns that the economy is heading into recession.",
        ),
        details=(
            "{snouns_cap} fell, with {co1} down {move}%.",
            "Business investment declined for a {nth} straight quarter.",
            "Economists cut their forecasts for the full year.",
        ),
    ),
    Event(
        "oil_spike",
        "negative",
        ("oil prices", "commodities"),
        "oil price spike",
        weight=1.2,
        macro="oil",
        sectors=("airlines", "airlines", "autos", "consumer_goods", "industrials"),
        titles=(
            "Oil jumps {oil_move}% to ${oil}; fuel costs weigh on {snouns}",
            "Crude surge to ${oil} hits {snouns} as fuel bills climb",
            "Rising oil prices squeeze {snouns}; {co1} down {move}%",
            "Oil climbs to ${oil} a barrel, pressuring {snouns}",
        ),
        leads=(
            "Oil prices jumped {oil_move}% to ${oil} a barrel after supply disruptions, hurting {snouns} that depend on fuel.",
            "Crude rose to ${oil} a barrel, its highest level in {n_months} months, raising costs for {snouns}.",
            "A sharp increase in oil prices weighed on {snouns}, with investors worried that higher fuel costs will erode profits.",
        ),
        details=(
            "{co1} fell {move}% and {co2} lost {move2}%.",
            "Analysts warned that higher fuel costs could lead to lower earnings forecasts.",
            "Fuel is a major expense for {snouns}, and hedges cover only part of it.",
        ),
    ),
    Event(
        "oil_relief",
        "positive",
        ("oil prices", "commodities"),
        "lower oil prices",
        weight=1.2,
        macro="oil",
        sectors=("airlines", "airlines", "autos", "consumer_goods"),
        titles=(
            "Oil falls {oil_move}% to ${oil}, lifting {snouns}",
            "Cheaper fuel boosts {snouns} as crude slips to ${oil}",
            "{snouns_cap} gain as crude prices drop {oil_move}%",
            "Lower oil prices offer relief to {snouns}; {co1} up {move}%",
        ),
        leads=(
            "Oil prices fell {oil_move}% to ${oil} a barrel, lifting {snouns} on hopes of lower fuel costs.",
            "Crude dropped to ${oil} a barrel, its lowest level in {n_months} months, a welcome relief for {snouns}.",
            "Falling oil prices boosted {snouns}, as investors bet that cheaper fuel will improve margins.",
        ),
        details=(
            "{co1} rose {move}% and {co2} gained {move2}%.",
            "Analysts said lower fuel costs could lift profits this year.",
            "Fuel is one of the largest costs for {snouns}.",
        ),
    ),
    Event(
        "oil_rally",
        "positive",
        ("oil prices", "commodities"),
        "oil rally",
        weight=1,
        macro="oil",
        sectors=("oil_gas",),
        titles=(
            "Energy shares gain as oil climbs to ${oil}",
            "Oil rally to ${oil} lifts {snouns}",
            "Crude rises {oil_move}%, boosting producers",
            "{snouns_cap} rally as oil prices strengthen; {co1} up {move}%",
        ),
        leads=(
            "Oil prices rose {oil_move}% to ${oil} a barrel, lifting {snouns} on expectations of stronger profits.",
            "Crude climbed to its highest level in {n_months} months, boosting shares of producers.",
            "{snouns_cap} gained as oil prices strengthened on tighter supply.",
        ),
        details=(
            "{co1} rose {move}% and {co2} gained {move2}%.",
            "Analysts raised profit forecasts for the sector.",
            "Higher prices should support strong cash returns to shareholders.",
        ),
    ),
    Event(
        "oil_slump",
        "negative",
        ("oil prices", "commodities"),
        "oil slump",
        weight=1,
        macro="oil",
        sectors=("oil_gas",),
        titles=(
            "Energy shares slide as oil falls to ${oil}",
            "Oil slump to ${oil} hits {snouns}",
            "Crude drops {oil_move}%, weighing on producers",
            "{snouns_cap} fall as oil prices weaken; {co1} down {move}%",
        ),
        leads=(
            "Oil prices fell {oil_move}% to ${oil} a barrel, dragging down {snouns} on concern about weaker profits.",
            "Crude dropped to its lowest level in {n_months} months amid oversupply, hurting shares of producers.",
            "{snouns_cap} declined as oil prices weakened on worries about demand.",
        ),
        details=(
            "{co1} fell {move}% and {co2} lost {move2}%.",
            "Analysts cut profit forecasts for the sector.",
            "Lower prices could force producers to reduce spending.",
        ),
    ),
    Event(
        "oil_meeting",
        "neutral",
        ("oil prices", "commodities"),
        "producer meeting",
        weight=0.8,
        macro="oil",
        sectors=("oil_gas",),
        titles=(
            "Oil producers to meet on output quotas on {meeting_date}",
            "Oil steady at ${oil} ahead of producer meeting",
            "Crude holds near ${oil} as traders await supply talks",
            "Producer group schedules review of output targets for {meeting_date}",
        ),
        leads=(
            "Members of the Petroleum Exporters Council will meet on {meeting_date} to review production quotas.",
            "Oil prices were steady at about ${oil} a barrel as traders waited for the outcome of a producer meeting.",
            "The Petroleum Exporters Council said it will review output targets at its next meeting.",
        ),
        details=(
            "Delegates have not indicated whether quotas will change.",
            "{snouns_cap} were little changed.",
            "The group meets every {n_months} months.",
        ),
    ),
    Event(
        "fx_strong",
        "negative",
        ("currencies",),
        "stronger currency",
        weight=1,
        macro="currency",
        sectors=("semiconductors", "autos", "consumer_goods", "industrials", "pharma"),
        titles=(
            "Strong {ccy_bare} hurts exporters as currency climbs {fx_move}%",
            "Currency surge of {fx_move}% weighs on {snouns}",
            "{ccy_cap} rally hits overseas earnings of {snouns}; {co1} falls {move}%",
            "{snouns_cap} fall as strong {ccy_bare} cuts foreign sales; {co1} down {move}%",
        ),
        leads=(
            "{ccy_cap} rose {fx_move}% against a basket of major currencies, reducing the value of overseas sales for {snouns}.",
            "A sharp rise in {ccy} weighed on exporters, with {snouns} warning of lower foreign earnings.",
            "{snouns_cap} declined as the stronger currency threatened to hurt profits from abroad.",
        ),
        details=(
            "{co1} fell {move}%.",
            "Analysts estimate each 1% rise in the currency cuts sector earnings by about {fx_hit}%.",
            "Companies with large foreign sales were the weakest performers.",
        ),
    ),
    Event(
        "fx_weak",
        "positive",
        ("currencies",),
        "weaker currency",
        weight=1,
        macro="currency",
        sectors=("semiconductors", "autos", "consumer_goods", "industrials", "pharma"),
        titles=(
            "Weaker {ccy_bare} lifts exporters as currency falls {fx_move}%",
            "Currency slide of {fx_move}% boosts {snouns}",
            "{ccy_cap} drop helps overseas earnings of {snouns}; {co1} rises {move}%",
            "{snouns_cap} gain as weaker {ccy_bare} supports foreign sales; {co1} up {move}%",
        ),
        leads=(
            "{ccy_cap} fell {fx_move}% against a basket of major currencies, increasing the value of overseas sales for {snouns}.",
            "A decline in {ccy} gave a boost to exporters, with {snouns} expected to benefit.",
            "{snouns_cap} gained as the weaker currency improved the outlook for profits from abroad.",
        ),
        details=(
            "{co1} rose {move}%.",
            "Analysts estimate each 1% fall in the currency lifts sector earnings by about {fx_hit}%.",
            "Companies with large foreign sales were the strongest performers.",
        ),
    ),
    Event(
        "fx_steady",
        "neutral",
        ("currencies",),
        "quiet currency trading",
        weight=0.8,
        macro="currency",
        sectors=("banks", "consumer_goods"),
        titles=(
            "{ccy_cap} steady ahead of {cb} meeting on {meeting_date}",
            "Currency markets quiet as traders await {weekday} data",
            "{ccy_cap} little changed in thin {weekday} trading",
            "Currencies hold in narrow range before {weekday} data",
        ),
        leads=(
            "{ccy_cap} traded in a narrow range as investors waited for the {cb} meeting on {meeting_date}.",
            "Currency markets were quiet, with {ccy} little changed against major peers.",
            "Traders kept positions small ahead of economic data due on {weekday}.",
        ),
        details=(
            "Trading volumes were below average.",
            "{snouns_cap} were little changed.",
            "Options markets showed limited expectations of large moves.",
        ),
    ),
    Event(
        "yields_rise",
        "negative",
        ("bond yields", "interest rates"),
        "rising bond yields",
        weight=1,
        macro="bond_yields",
        sectors=("real_estate", "real_estate", "renewables", "software"),
        titles=(
            "Bond yields jump to {yield_level}%, pressuring {snouns}",
            "Rising yields hit {snouns}; {co1} down {move}%",
            "Ten-year yield climbs {yield_bp} basis points, weighing on stocks",
            "{snouns_cap} slide as ten-year yield surges to {yield_level}%",
        ),
        leads=(
            "The ten-year government bond yield rose {yield_bp} basis points to {yield_level}%, its highest level in {n_months} months, hurting {snouns}.",
            "A selloff in government bonds pushed yields higher, weighing on rate-sensitive {snouns}.",
            "Rising borrowing costs in the bond market hit {snouns}, which depend on cheap financing.",
        ),
        details=(
            "{co1} fell {move}% and {co2} lost {move2}%.",
            "Investors worried that higher yields will reduce valuations.",
            "Strong economic data and heavy government borrowing drove the move.",
        ),
    ),
    Event(
        "yields_fall",
        "positive",
        ("bond yields", "interest rates"),
        "falling bond yields",
        weight=1,
        macro="bond_yields",
        sectors=("real_estate", "real_estate", "renewables", "software"),
        titles=(
            "Bond yields fall to {yield_level}%, lifting {snouns}",
            "Falling yields boost {snouns}; {co1} up {move}%",
            "Ten-year yield drops {yield_bp} basis points, stocks gain",
            "{snouns_cap} rally as ten-year yield retreats to {yield_level}%",
        ),
        leads=(
            "The ten-year government bond yield fell {yield_bp} basis points to {yield_level}%, its lowest level in {n_months} months, lifting {snouns}.",
            "A rally in government bonds pushed yields lower, helping rate-sensitive {snouns}.",
            "Lower borrowing costs in the bond market boosted {snouns}, which benefit from cheaper financing.",
        ),
        details=(
            "{co1} rose {move}% and {co2} gained {move2}%.",
            "Investors welcomed the improvement in financing conditions.",
            "Softer economic data and easing inflation drove the move.",
        ),
    ),
    Event(
        "bond_auction",
        "neutral",
        ("bond yields", "government debt"),
        "bond auction",
        weight=0.8,
        macro="bond_yields",
        sectors=("banks", "insurance"),
        titles=(
            "Treasury to auction {debt} of ten-year notes on {weekday}",
            "Government bond auctions this week total {debt}",
            "Ten-year yield at {yield_level}% ahead of auction",
            "Finance ministry announces {debt} bond sale",
        ),
        leads=(
            "The finance ministry will sell {debt} of ten-year notes on {weekday}, part of its regular borrowing schedule.",
            "The ten-year yield stood at {yield_level}% ahead of this week's government bond auctions.",
            "Government debt managers announced the size of next week's bond sales.",
        ),
        details=(
            "The sale is in line with the quarterly financing plan.",
            "{snouns_cap} were little changed.",
            "Results will be published shortly after the auction closes.",
        ),
    ),
    Event(
        "tariffs_imposed",
        "negative",
        ("trade", "tariffs"),
        "new tariffs",
        weight=1.2,
        macro="trade",
        sectors=("autos", "semiconductors", "retail", "consumer_goods", "industrials", "mining"),
        titles=(
            "New {tariff}% tariffs on {goods} hit {snouns}",
            "{snouns_cap} fall as government imposes tariffs on {goods}",
            "Tariff escalation on {goods} threatens profits at {snouns}",
            "Trade tensions rise with {tariff}% duties on {goods}",
        ),
        leads=(
            "The government announced tariffs of {tariff}% on {goods}, a blow to {snouns} that rely on global supply chains.",
            "{snouns_cap} declined after new {tariff}% tariffs on {goods} raised fears of higher costs and weaker demand.",
            "Escalating trade tensions weighed on {snouns} as trading partners threatened to retaliate against the new duties.",
        ),
        details=(
            "{co1} fell {move}% and {co2} lost {move2}%.",
            "Industry groups warned that the tariffs would raise prices for consumers.",
            "Analysts cut earnings forecasts for companies most exposed to imports.",
        ),
    ),
    Event(
        "trade_deal",
        "positive",
        ("trade", "tariffs"),
        "trade deal",
        weight=1,
        macro="trade",
        sectors=("autos", "semiconductors", "retail", "consumer_goods", "industrials", "mining"),
        titles=(
            "Trade deal cuts tariffs on {goods}, lifting {snouns}",
            "{snouns_cap} rally on trade agreement; {co1} up {move}%",
            "Tariff relief on {goods} boosts {snouns}",
            "Governments agree to lower duties on {goods}",
        ),
        leads=(
            "Negotiators reached a trade agreement that will reduce tariffs on {goods}, boosting {snouns}.",
            "{snouns_cap} gained after the government agreed to cut duties on {goods} to {tariff}%.",
            "A new trade deal eased tensions and improved the outlook for {snouns} that depend on global supply chains.",
        ),
        details=(
            "{co1} rose {move}% and {co2} gained {move2}%.",
            "Industry groups welcomed the agreement.",
            "Analysts raised earnings forecasts for companies most exposed to imports.",
        ),
    ),
    Event(
        "trade_talks",
        "neutral",
        ("trade", "tariffs"),
        "trade talks",
        weight=0.8,
        macro="trade",
        sectors=("autos", "semiconductors", "retail", "industrials"),
        titles=(
            "Trade negotiators to meet on {meeting_date}",
            "Next round of trade talks set for {meeting_date}",
            "Officials schedule talks on tariffs for {goods}",
            "Trade delegations to resume discussions on {goods}",
        ),
        leads=(
            "Trade negotiators will meet on {meeting_date} to continue talks on tariffs for {goods}.",
            "Officials confirmed that the next round of trade talks will take place on {meeting_date}.",
            "Government delegations scheduled a new round of discussions on trade in {goods}.",
        ),
        details=(
            "No agenda has been published.",
            "{snouns_cap} were little changed.",
            "The talks follow a meeting held {n_months} months ago.",
        ),
    ),
)
EVENT_BY_KEY = {event.key: event for event in COMPANY_EVENTS + MACRO_EVENTS}

# Some stories lead to a later one about the same company, as real coverage does: a lawsuit is
# settled, a probe ends in a fine, a successful trial in an approval. (next event, chance)
FOLLOW_UPS: dict[str, tuple[str, float]] = {
    "lawsuit_filed": ("lawsuit_settled", 0.6),
    "regulatory_probe": ("regulatory_fine", 0.6),
    "trial_success": ("drug_approval", 0.5),
    "acquisition": ("merger_completed", 0.6),
    "ceo_departure": ("ceo_appointment", 0.7),
    "default_risk": ("rating_downgrade", 0.5),
}
# Facts a follow-up repeats from the story it follows, so the two read as one saga.
FOLLOW_UP_FACTS = (
    "target",
    "deal_value",
    "plaintiff",
    "plaintiff_cap",
    "claim",
    "violation",
    "drug",
    "indication",
    "old_person",
    "court_city",
    "viol_year",
)
FOLLOW_UP_DAYS = (30, 240)

# Headline crude prices that fit the story: a spike lands high, a slump low.
OIL_PRICE_RANGES = {"oil_spike": (88, 115), "oil_rally": (84, 110), "oil_slump": (52, 70), "oil_relief": (52, 72)}

CENTRAL_BANKS = (
    # (name, short, currency, currency as a bare noun, statistics office)
    ("National Reserve Board", "the Reserve Board", "the dollar", "dollar", "Bureau of Economic Statistics"),
    ("Continental Monetary Authority", "the Authority", "the euro", "euro", "Continental Statistics Office"),
)

REACTIONS = {
    "positive": (
        "Shares of {co} rose {move}% in {session} trading.",
        "{co} stock gained {move}% after the announcement.",
        "The shares climbed {move}%, outperforming the broader market.",
        "Investors welcomed the news, sending the stock up {move}%.",
    ),
    "negative": (
        "Shares of {co} fell {move}% in {session} trading.",
        "{co} stock dropped {move}% following the news.",
        "The shares declined {move}%, their steepest fall in {n_months} months.",
        "Investors reacted badly, sending the stock down {move}%.",
    ),
    "neutral": (
        "Shares of {co} were little changed in {session} trading.",
        "The stock closed roughly flat.",
        "{co} shares moved less than 1% on the day.",
        "Trading in the shares was in line with the wider market.",
    ),
}
ANALYST_QUOTES = {
    "positive": (
        "This was a clean result and the momentum looks durable",
        "The numbers show the strategy is working",
        "Demand for {product} remains strong, and the company is gaining share",
        "We see further upside as margins improve",
        "It is an encouraging step and we expect more good news",
    ),
    "negative": (
        "This is a disappointing outcome and it raises questions about the outlook",
        "The weakness is worse than we feared",
        "Investors will want evidence that management can stop the decline",
        "The risks have clearly increased",
        "It is hard to see a quick recovery from here",
    ),
    "neutral": (
        "It is largely in line with what the market expected",
        "We are keeping our estimates unchanged for now",
        "The details will matter more than the headline",
        "We will revisit our view after the next set of results",
    ),
}
EXEC_QUOTES = {
    "positive": (
        "We are proud of what our teams delivered",
        "This milestone reflects the strength of our {product} franchise",
        "We are excited about the opportunities ahead and confident in our growth",
    ),
    "negative": (
        "These are difficult but necessary decisions",
        "We are taking decisive action to improve performance",
        "We take this matter seriously and are working to address it",
    ),
    "neutral": (
        "We look forward to updating investors on our progress",
        "This step is consistent with our long-term plan",
        "We will share more details in the coming weeks",
    ),
}
MACRO_QUOTES = {
    "positive": (
        "The data gives the market room to breathe",
        "This is a supportive backdrop for earnings",
        "Conditions are improving faster than most people expected",
    ),
    "negative": (
        "The pressure on margins is going to get worse before it gets better",
        "This is a clear headwind for the sector",
        "Investors are right to be worried about the outlook",
    ),
    "neutral": (
        "Nothing in this changes the bigger picture",
        "The market had already priced this in",
        "We need more data before drawing conclusions",
    ),
}
ANALYSIS_CLOSERS = (
    "The next test comes with the {nq} results.",
    "Investors will watch whether the trend holds over the coming months.",
    "The episode highlights the broader forces shaping {snouns}.",
    "Longer term, much depends on demand for {product}.",
)
MARKET_CLOSERS = (
    "The broad market index was {idx_dir} {idx_move}% at the time.",
    "{co} was among the most actively traded stocks in the session.",
    "Trading volume was about {volume_x} times the daily average.",
)
MACRO_MARKET_CLOSERS = (
    "The broad market index ended {idx_dir} {idx_move}%.",
    "Trading volume was above average across the sector.",
    "The ten-year yield was last at {yield_level}%.",
)


# --------------------------------------------------------------------------------------------
# Hidden labels, story planning and rendering
# --------------------------------------------------------------------------------------------


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


def _money(millions: float) -> str:
    if millions >= 1000:
        return f"${millions / 1000:.1f} billion"
    if millions >= 100:
        return f"${millions:.0f} million"
    return f"${millions:.1f} million"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(date: dt.datetime) -> str:
    return f"{MONTHS[date.month - 1]} {date.day}"


def _possessives(text: str, names: Iterable[str]) -> str:
    """House style: a name that ends in s takes a bare apostrophe (Northwind Semiconductors')."""
    for name in names:
        if name.endswith("s"):
            text = text.replace(name + "'s", name + "'")
    return text


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pct(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 1)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _quarter_context(when: dt.datetime) -> dict[str, object]:
    # Results published in a quarter are for the quarter before it.
    index = (when.month - 1) // 3 - 1
    year = when.year
    if index < 0:
        index, year = 3, year - 1
    return {
        "q": f"{QUARTER_WORDS[index]}-quarter",
        "qn": f"{QUARTER_WORDS[index]} quarter",
        "qs": f"Q{index + 1}",
        "fy": year,
        "fy_prev": year - 1,
        "nq": f"{QUARTER_WORDS[(index + 1) % 4]} quarter",
        "month": MONTHS[(when.month - 2) % 12],
        "season": ("winter", "spring", "summer", "autumn")[index],
    }


def _future_day(rng: random.Random, when: dt.datetime, low: int, high: int) -> str:
    return _day(when + dt.timedelta(days=rng.randint(low, high)))


def _common_context(rng: random.Random, when: dt.datetime, tone: str) -> dict[str, object]:
    ctx = _quarter_context(when)
    sign = {"positive": 1, "negative": -1, "neutral": 0}[tone]
    ctx.update(
        move=_pct(rng, 1.2, 9.5) if sign > 0 else _pct(rng, 1.5, 14.0) if sign < 0 else _pct(rng, 0.1, 0.8),
        move2=_pct(rng, 0.8, 6.0),
        session=rng.choice(("morning", "afternoon", "early", "late", "midday")),
        n_months=rng.randint(3, 24),
        nth=rng.choice(("second", "third", "fourth")),
        weekday=WEEKDAYS[rng.randrange(5)],
        meeting_date=_future_day(rng, when, 10, 60),
        record_date=_future_day(rng, when, 7, 20),
        pay_date=_future_day(rng, when, 21, 45),
        years=rng.randint(2, 6),
        region=rng.choice(REGIONS),
        idx_dir="up" if sign > 0 else "down" if sign < 0 else rng.choice(("up", "down")),
        idx_move=_pct(rng, 0.1, 1.4),
        yield_level=_pct(rng, 3.2, 5.1),
        close_half=rng.choice(("first half", "second half")),
        close_year=when.year + rng.randint(0, 1),
        debt=_money(rng.choice((250, 400, 500, 750, 1000, 1250, 1500, 2000, 3000))),
    )
    return ctx


def _company_context(
    rng: random.Random, company: Company, sector: Sector, when: dt.datetime, tone: str
) -> dict[str, object]:
    """Every figure a company story might quote, drawn once so that all outlets covering the
    same story report the same numbers."""
    ctx = _common_context(rng, when, tone)
    sign = {"positive": 1, "negative": -1, "neutral": 0}[tone]
    quarter_rev = company.revenue_bn * 250 * rng.uniform(0.85, 1.15)  # millions
    eps_est = round(company.eps * rng.uniform(0.7, 1.3) / 4 + 0.05, 2)
    surprise = rng.uniform(0.04, 0.3) * sign
    margin = _pct(rng, 14, 58)
    div_old = round(rng.uniform(0.12, 1.6), 2)
    div_change = rng.uniform(0.05, 0.25) if sign >= 0 else -rng.uniform(0.25, 0.6)
    div_new = max(0.01, round(div_old * (1 + div_change), 2))
    guid_lo = company.revenue_bn * 1000 * rng.uniform(0.95, 1.15)
    eps_g_lo = round(company.eps * rng.uniform(0.85, 1.15), 2)
    rating_idx = rng.randrange(1, len(RATING_SCALE) - 1)
    pt_old = round(rng.uniform(25, 320))
    pt_change = rng.uniform(0.1, 0.35)
    if rng.random() < 0.35:
        peer = rng.choice(PEERS[company.name])
        target = peer.name
    else:
        target = f"{rng.choice(PRIVATE_PREFIXES)} {rng.choice(PRIVATE_SUFFIXES[sector.key])}"
    # Who sues decides what the suit is about: shareholders over disclosures, a rival over patents.
    if rng.random() < 0.25:
        rival = rng.choice(PEERS[company.name])
        plaintiff, claim = rival.name, rng.choice(("patent infringement", "the use of trade secrets"))
    else:
        plaintiff, claim = rng.choice(
            (
                ("a group of shareholders", f"misleading statements about {rng.choice(sector.products)} demand"),
                ("a former supplier", "breach of contract"),
                (
                    "a consumer advocacy group",
                    f"hidden fees and misleading marketing of its {rng.choice(sector.products)}",
                ),
                ("a group of former employees", "unpaid overtime"),
                ("a state attorney general", "deceptive sales practices"),
            )
        )
    if sector.customers and rng.random() < 0.7:
        customer = rng.choice(sector.customers)
    else:
        buyer = rng.choice(OUTSIDERS[company.sector])
        customer = buyer.name
    cat_event = rng.choice(("hurricane", "winter storm", "wildfire", "flooding", "hailstorm"))
    recall_item = rng.choice(sector.recall_items) if sector.recall_items else "products"
    new_kind = rng.choice(sector.new_kinds) if sector.new_kinds else rng.choice(sector.products)
    drug = rng.choice(DRUG_HEADS) + rng.choice(DRUG_TAILS)
    jobs_pct = _pct(rng, 2, 12)

    ctx.update(
        co=company.name,
        tk=company.ticker,
        hq=company.hq,
        noun=sector.noun,
        snouns=sector.nouns,
        product=rng.choice(sector.products),
        driver=rng.choice(sector.drivers),
        employees=f"{company.employees:,}",
        rev=_money(quarter_rev * (1 + surprise / 3)),
        growth=_pct(rng, 3, 28),
        growth2=_pct(rng, 4, 35),
        growth_est=_pct(rng, 1, 6),
        decline=_pct(rng, 2, 24),
        decline2=_pct(rng, 3, 30),
        eps_est=f"{eps_est:.2f}",
        eps=f"{max(0.01, eps_est * (1 + surprise)):.2f}",
        margin=margin,
        margin_prev=round(margin - sign * rng.uniform(0.5, 4.0), 1),
        op_profit=_money(quarter_rev * margin / 100 * 0.55),
        fcf=_money(fcf := quarter_rev * rng.uniform(0.05, 0.2)),
        fcf_prev=_money(fcf / (1 + sign * rng.uniform(0.08, 0.4))),
        n_quarters=rng.randint(4, 12),
        charge=_money(quarter_rev * rng.uniform(0.02, 0.15)),
        guid_lo=_money(guid_lo),
        guid_hi=_money(guid_lo * rng.uniform(1.02, 1.06)),
        eps_g_lo=f"{eps_g_lo:.2f}",
        eps_g_hi=f"{eps_g_lo * rng.uniform(1.03, 1.08):.2f}",
        bps=rng.choice((50, 75, 100, 120, 150, 200)),
        div_old=f"{div_old:.2f}",
        div_new=f"{div_new:.2f}",
        div_pct=max(1, round(abs(div_new / div_old - 1) * 100)),
        streak=(streak := rng.randint(3, 30)),
        streak_ord=_ordinal(streak),
        yield_pct=_pct(rng, 1.2, 5.8),
        buyback=_money(company.revenue_bn * 1000 * rng.uniform(0.03, 0.15)),
        buyback_pct=_pct(rng, 2, 9),
        cash=_money(company.revenue_bn * 1000 * rng.uniform(0.05, 0.3)),
        target=target,
        deal_value=_money(company.revenue_bn * 1000 * rng.uniform(0.05, 0.6)),
        premium=rng.randint(15, 45),
        synergies=_money(company.revenue_bn * 1000 * rng.uniform(0.005, 0.03)),
        jobs=f"{max(100, int(company.employees * jobs_pct / 100) // 50 * 50):,}",
        jobs_pct=jobs_pct,
        savings=_money(company.revenue_bn * 1000 * rng.uniform(0.01, 0.05)),
        unit_area=rng.choice(("corporate", "sales", "manufacturing", "back-office", "research")),
        regulator=sector.regulator,
        market_regulator=MARKET_REGULATOR,
        violation=rng.choice(sector.violations),
        fine=_money(rng.uniform(5, 60) * max(1.0, company.revenue_bn / 10)),
        viol_year=when.year - rng.randint(1, 4),
        months=rng.randint(6, 30),
        plaintiff=plaintiff,
        plaintiff_cap=_cap(plaintiff),
        claim=claim,
        claim_amt=_money(rng.uniform(20, 2500)),
        settlement=_money(rng.uniform(5, 800)),
        court_city=rng.choice(COURT_CITIES),
        agency=rng.choice(RATING_AGENCIES),
        rating_from=RATING_SCALE[rating_idx],
        rating_to=RATING_SCALE[rating_idx - 1 if sign > 0 else rating_idx + 1],
        outlook=rng.choice(("stable", "positive")),
        leverage=_pct(rng, 1.1, 5.5),
        broker=rng.choice(BROKERS),
        analyst=_person(rng),
        rating_up=rng.choice(("buy", "outperform", "overweight")),
        rating_down=rng.choice(("sell", "underperform", "underweight")),
        rating_mid=rng.choice(("hold", "neutral", "market perform")),
        pt_old=pt_old,
        pt_new=round(pt_old * (1 + pt_change) if sign >= 0 else pt_old * (1 - pt_change)),
        upside=_pct(rng, 8, 35),
        person=_person(rng),
        old_person=_person(rng),
        prev_role=rng.choice(
            (
                "its chief operating officer",
                "its chief financial officer",
                f"head of its {rng.choice(sector.products)} business",
                "a board member",
            )
        ),
        eff_date=_future_day(rng, when, 14, 90),
        reason=rng.choice(
            (
                "disagreements with the board",
                "a string of weak results",
                "an internal investigation into expenses",
                "pressure from activist investors",
            )
        ),
        new_product=(
            f"{rng.choice(MODEL_NAMES)} {rng.randint(2, 9)} {new_kind}"
            if sector.key in NUMBERED_MODELS
            else f"{rng.choice(MODEL_NAMES)} {new_kind}"
        ),
        segment=rng.choice(
            (
                "large corporate customers",
                "price-conscious buyers",
                "premium customers",
                "small businesses",
                "customers in emerging markets",
            )
        ),
        improve_pct=rng.randint(12, 60),
        launch_month=MONTHS[(when.month + rng.randint(0, 3)) % 12],
        customer=customer,
        customer_cap=_cap(customer),
        contract_value=_money(company.revenue_bn * 1000 * rng.uniform(0.01, 0.12)),
        facility=rng.choice(sector.facilities) if sector.facilities else "operations center",
        place=rng.choice(sector.places or PLACES),
        capex=_money(company.revenue_bn * 1000 * rng.uniform(0.02, 0.12)),
        plant_jobs=f"{rng.randint(2, 40) * 50:,}",
        drug=drug,
        indication=rng.choice(sector.indications) if sector.indications else "a chronic condition",
        phase=rng.choice(("2", "3", "3")),
        patients=f"{rng.randint(8, 120) * 25:,}",
        n_sites=rng.randint(12, 240),
        peak_sales=_money(rng.uniform(300, 4000)),
        input=rng.choice(sector.inputs) if sector.inputs else "parts",
        supply_cause=rng.choice(
            (
                "a fire at a key supplier",
                "port congestion",
                "flooding at a supplier plant",
                "a strike at a logistics partner",
            )
        ),
        records=rng.choice(("120,000", "480,000", "1.2 million", "2.6 million", "7 million", "310,000")),
        system=rng.choice(sector.systems),
        service=sector.service,
        units=f"{rng.randint(3, 400) * 1000:,}",
        recall_item=recall_item,
        defect=rng.choice(sector.defects) if sector.defects else "a safety defect",
        n_incidents=rng.randint(3, 60),
        grace_days=rng.choice((15, 30)),
        hours=rng.randint(2, 14),
        fuel_pct=_pct(rng, 8, 35),
        fuel_share=rng.randint(20, 35),
        provision=_money(quarter_rev * rng.uniform(0.05, 0.2)),
        loan_type=rng.choice(("commercial property", "consumer", "small-business", "auto", "credit card")),
        chargeoff=_pct(rng, 0.8, 4.5),
        cat_event=cat_event,
        cat_event_cap=_cap(cat_event),
        cat_loss=_money(rng.uniform(80, 1800)),
        combined_ratio=rng.randint(101, 118),
        metric=sector.sales_metric or "sales",
        report_date=_future_day(rng, when, 5, 30),
        conference=f"the {rng.choice(BROKERS)} {sector.adj} conference",
        n_directors=rng.randint(7, 13),
        unit=rng.choice(sector.units),
        ipo_shares=rng.randint(8, 90),
        ipo_lo=(ipo_lo := rng.randint(12, 40)),
        ipo_hi=ipo_lo + rng.randint(2, 5),
        unit_rev=_money(company.revenue_bn * 1000 * rng.uniform(0.05, 0.2)),
        coupon=f"{rng.uniform(3.9, 7.8):.3f}".rstrip("0"),
        maturity=when.year + (maturity_years := rng.choice((3, 5, 7, 10, 30))),
        maturity_years=maturity_years,
        n_tranches=rng.choice(("two", "three", "four")),
        volume_x=rng.choice(("two", "three", "four")),
    )
    return ctx


def _macro_context(
    rng: random.Random,
    event: Event,
    sector: Sector,
    when: dt.datetime,
) -> tuple[dict[str, object], list[str]]:
    tone = event.tone
    ctx = _common_context(rng, when, tone)
    sign = {"positive": 1, "negative": -1, "neutral": 0}[tone]
    name, short, ccy, ccy_bare, stats = rng.choice(CENTRAL_BANKS)
    peers = SECTOR_COMPANIES[sector.key]
    weights = [c.weight for c in peers]
    co1 = rng.choices(peers, weights)[0]
    co2 = rng.choice([c for c in peers if c is not co1])
    rate_old = round(rng.uniform(1.5, 5.5) * 4) / 4
    bp = rng.choice((25, 25, 25, 50))
    cpi_est = _pct(rng, 1.8, 4.2)
    ctx.update(
        cb=name,
        cb_short=short,
        cb_short_cap=_cap(short),
        ccy=ccy,
        ccy_cap=_cap(ccy),
        ccy_bare=ccy_bare,
        stats=stats,
        snouns=sector.nouns,
        snouns_cap=_cap(sector.nouns),
        product=rng.choice(sector.products),
        co=co1.name,
        co1=co1.name,
        co2=co2.name,
        bp=bp,
        rate_old=f"{rate_old:.2f}",
        rate_new=f"{rate_old + (bp / 100 if tone == 'negative' else -bp / 100):.2f}",
        votes=rng.choice(("7-2", "8-1", "6-3", "9-0", "5-4")),
        cpi_est=cpi_est,
        cpi=round(cpi_est + sign * -rng.uniform(0.2, 0.6), 1) if sign else cpi_est,
        core=_pct(rng, 2.0, 4.5),
        payrolls=f"{(rng.randint(180, 380) if sign > 0 else rng.randint(10, 90) if sign < 0 else rng.randint(120, 200)) * 1000:,}",
        payrolls_est=f"{rng.randint(120, 200) * 1000:,}",
        unemp=_pct(rng, 3.6, 5.2),
        wages=_pct(rng, 2.8, 4.6),
        revision=f"{rng.randint(20, 90) * 1000:,}",
        gdp=_pct(rng, 2.2, 4.1),
        gdp_neg=_pct(rng, 0.3, 1.8),
        gdp_est=_pct(rng, 1.0, 2.0),
        oil=rng.randint(*OIL_PRICE_RANGES.get(event.key, (64, 88))),
        oil_move=_pct(rng, 2.5, 9.0),
        fx_move=_pct(rng, 1.0, 4.0),
        fx_hit=_pct(rng, 0.2, 0.6),
        yield_bp=rng.randint(9, 35),
        tariff=rng.choice((10, 15, 20, 25, 35, 50)),
        goods=sector.goods,
    )
    return ctx, [co1.name, co2.name]


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
                ctx, named = _macro_context(rng, event, sector, when)
                labels = Labels("macro", sector.key, None, event.key, tone, event.macro, (), story_no)
                orgs = [str(ctx["cb"]), str(ctx["stats"])]
                themes = [*event.themes, sector.theme, "macro"]
                return _Story(labels, event, ctx, named, orgs, themes, sector)
            company = rng.choices(COMPANIES, self.company_weights)[0]
            options = [e for e in self.events_by_tone[tone] if e.sectors is None or company.sector in e.sectors]
            event = rng.choices(options, [e.weight for e in options])[0]
        sector = SECTOR_BY_KEY[company.sector]
        ctx = _company_context(rng, company, sector, when, tone)
        if follow is not None:
            ctx.update(follow[2])
        named = [str(ctx[slot]) for slot in ("target", "plaintiff", "customer") if ctx[slot] in COMPANY_BY_NAME]
        orgs = [sector.regulator, MARKET_REGULATOR, str(ctx["agency"]), str(ctx["broker"]), str(ctx["target"])]
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
        base = _cap(event.titles[index].format_map(ctx))
        roll = rng.random()
        subject = ctx["co"] if not event.macro else ctx["snouns"]
        if doc_type == "analysis" and roll < 0.7:
            if event.macro:
                options = (
                    f"Analysis: {base}",
                    f"What the {event.noun} means for {subject} in {ctx['close_year']}",
                    f"{_cap(event.noun)}: winners and losers among {subject}",
                    f"Why the {event.noun} matters for {subject} like {ctx['co1']}",
                )
            else:
                options = (
                    f"Analysis: {base}",
                    f"What {subject}'s {event.noun} means for investors",
                    f"{_cap(event.noun)} puts {subject}'s {ctx['product']} business in focus",
                    f"Why the {event.noun} at {subject} matters for {ctx['snouns']} ahead of {ctx['nq']} results",
                )
            return _cap(rng.choice(options))
        if doc_type == "market_update" and roll < 0.6:
            if event.macro:
                return rng.choice(
                    (
                        f"Markets: {base}",
                        f"Market update: {base}",
                        f"{_cap(str(ctx['snouns']))} in focus after {event.noun}; {ctx['co1']} moves {ctx['move']}%",
                    )
                )
            verb = {"positive": f"rise {ctx['move']}%", "negative": f"fall {ctx['move']}%", "neutral": "steady"}[
                event.tone
            ]
            return rng.choice(
                (f"Market update: {base}", f"{subject} shares {verb} after {event.noun}", f"Movers: {base}")
            )
        if doc_type == "filing_summary" and roll < 0.5:
            return rng.choice(
                (f"Filing: {base}", f"{subject} filing details {event.noun}", f"Regulatory filing: {base}")
            )
        return base

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
        quote_pool = MACRO_QUOTES if event.macro else ANALYST_QUOTES
        if doc_type == "press_release":
            body_lead = f"{ctx['hq']}, {_day(when)} -- {body_lead}"
            quote = rng.choice(EXEC_QUOTES[tone]).format_map(ctx)
            middle.append(
                f'"{quote}," said {ctx["person"] if event.key != "ceo_appointment" else ctx["old_person"]}, '
                f"chief executive of {ctx['co']}."
            )
        else:
            if not event.macro:
                middle.append(rng.choice(REACTIONS[tone]).format_map(ctx))
            quote = rng.choice(quote_pool[tone]).format_map(ctx)
            speaker = ctx["analyst"] if "analyst" in ctx else _person(rng)
            firm = ctx["broker"] if "broker" in ctx else rng.choice(BROKERS)
            role = "an economist" if event.macro else "an analyst"
            middle.append(
                rng.choice((f'"{quote}," said {speaker}, {role} at {firm}.', f'{speaker} of {firm} said: "{quote}."'))
            )
        if rng.random() < 0.5:
            middle.append(rng.choice(story.sector.context))
        if doc_type == "analysis":
            middle.append(rng.choice(ANALYSIS_CLOSERS).format_map(ctx))
        elif doc_type == "market_update":
            middle.append(rng.choice(MACRO_MARKET_CLOSERS if event.macro else MARKET_CLOSERS).format_map(ctx))
        elif doc_type == "filing_summary":
            body_lead = f"According to a filing with the {MARKET_REGULATOR}, " + (
                body_lead[0].lower() + body_lead[1:] if body_lead.startswith("The ") else body_lead
            )
            middle.append("The document was filed after the market closed on {weekday}.".format_map(ctx))
        if doc_type == "press_release":
            middle.append(
                f"About {ctx['co']}: {ctx['co']} is {_article(str(ctx['noun']))} based in {ctx['hq']} "
                f"with about {ctx['employees']} employees."
            )
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


# --------------------------------------------------------------------------------------------
# Judged relevance set
# --------------------------------------------------------------------------------------------

# Each query is written the way a user would search, not the way the headlines are written, and
# is judged by a predicate over the hidden labels (see Labels.matches). The set is tuned to the
# committed sample: every query has 3-60 relevant documents there. Any change to the generator
# reshuffles the sample, so re-check the counts (tests/test_corpus.py does) after editing it.
RELEVANCE_QUERIES: tuple[tuple[str, dict[str, object]], ...] = (
    # broad topical: sector and event
    ("chipmakers beating earnings forecasts", {"sector": "semiconductors", "event": ["earnings_beat"]}),
    (
        "tech companies beating earnings forecasts",
        {"sector": ["semiconductors", "software"], "event": ["earnings_beat"]},
    ),
    ("airline fuel costs hurting profits", {"sector": "airlines", "event": ["fuel_costs", "oil_spike"]}),
    ("bank earnings season results", {"sector": "banks", "event": ["earnings_beat", "earnings_miss"]}),
    (
        "legal troubles at banks",
        {"sector": "banks", "event": ["lawsuit_filed", "lawsuit_settled", "regulatory_fine", "regulatory_probe"]},
    ),
    ("software company acquisitions", {"sector": "software", "event": ["acquisition", "merger_completed"]}),
    ("retail chains reporting weak sales", {"sector": "retail", "event": ["sales_slump", "earnings_miss"]}),
    (
        "consumer spending slowdown hits retailers and brands",
        {"sector": ["retail", "consumer_goods"], "event": ["sales_slump", "earnings_miss", "guidance_cut"]},
    ),
    (
        "oil companies profit warnings and weak results",
        {"sector": "oil_gas", "event": ["earnings_miss", "guidance_cut"]},
    ),
    ("strong travel demand boosting airline sales", {"sector": "airlines", "event": ["sales_surge", "earnings_beat"]}),
    # broad topical: event only
    ("drug trial failure", {"event": ["trial_failure"]}),
    ("successful clinical trial results", {"event": ["trial_success"]}),
    ("new medicine gets regulatory approval", {"event": ["drug_approval"]}),
    ("customer data stolen in a hack", {"event": ["data_breach"]}),
    ("network and IT outages", {"event": ["outage"]}),
    ("companies announcing layoffs", {"event": ["layoffs"]}),
    ("factory and plant closures", {"event": ["plant_closure"]}),
    ("new mines, factories and plants opening", {"event": ["plant_opening"]}),
    ("new product launches", {"event": ["product_launch"]}),
    ("big contract wins", {"event": ["contract_win"]}),
    ("credit rating downgrades", {"event": ["rating_downgrade"]}),
    ("credit rating upgrades", {"event": ["rating_upgrade"]}),
    ("wall street analysts downgrade stocks", {"event": ["analyst_downgrade"]}),
    ("analysts turn bullish and raise price targets", {"event": ["analyst_upgrade"]}),
    ("companies raising their dividends", {"event": ["dividend_increase"]}),
    ("dividend cuts", {"event": ["dividend_cut"]}),
    ("share repurchase programs", {"event": ["buyback"]}),
    ("companies lowering their full-year outlook", {"event": ["guidance_cut"]}),
    ("companies raising their forecasts", {"event": ["guidance_raise"]}),
    ("CEO resigns or is pushed out", {"event": ["ceo_departure"]}),
    ("new chief executive appointed", {"event": ["ceo_appointment"]}),
    ("regulators fine a company", {"event": ["regulatory_fine"]}),
    ("government investigation into company practices", {"event": ["regulatory_probe"]}),
    ("companies at risk of bankruptcy or default", {"event": ["default_risk"]}),
    ("spin-off IPO plans", {"event": ["ipo"]}),
    ("corporate bond issuance", {"event": ["debt_offering"]}),
    ("supply chain shortages disrupting production", {"event": ["supply_disruption"]}),
    ("shareholder meetings and votes", {"event": ["annual_meeting"]}),
    # macro
    ("central bank raises interest rates", {"event": ["rate_hike"]}),
    ("interest rate cut by the central bank", {"event": ["rate_cut"]}),
    ("central bank keeps rates on hold", {"event": ["rate_hold"]}),
    ("inflation higher than expected", {"event": ["inflation_hot"]}),
    ("latest consumer price inflation figures", {"macro": "inflation"}),
    ("strong hiring in the labor market", {"event": ["jobs_strong"]}),
    ("monthly jobs report and unemployment rate", {"macro": "jobs"}),
    ("economy shrinking recession fears", {"event": ["gdp_contraction"]}),
    ("economic growth beats expectations", {"event": ["gdp_growth"]}),
    ("import tariffs and trade negotiations", {"macro": "trade"}),
    ("energy stocks rally on higher crude prices", {"event": ["oil_rally"]}),
    ("oil price slump hits energy producers", {"event": ["oil_slump"]}),
    ("cheaper oil helps airlines", {"event": ["oil_relief"]}),
    ("rising bond yields hit stocks", {"event": ["yields_rise"]}),
    ("strong currency hurting exporters", {"event": ["fx_strong"]}),
    ("weaker currency helps exporters", {"event": ["fx_weak"]}),
    ("interest rate news for property companies", {"macro": "interest_rates", "sector": "real_estate"}),
    # company-specific
    ("Northwind Semiconductors", {"mentions": ["Northwind Semiconductors"]}),
    (
        "Northwind Semiconductors lawsuit",
        {"mentions": ["Northwind Semiconductors"], "event": ["lawsuit_filed", "lawsuit_settled"]},
    ),
    (
        "Northwind Semiconductors quarterly results",
        {"company": "Northwind Semiconductors", "event": ["earnings_beat", "earnings_miss", "earnings_date"]},
    ),
    (
        "Galewright Energy earnings",
        {"company": "Galewright Energy", "event": ["earnings_beat", "earnings_miss", "earnings_date"]},
    ),
    (
        "Ostrander Pharma legal battles",
        {
            "company": "Ostrander Pharma",
            "event": ["lawsuit_filed", "lawsuit_settled", "regulatory_fine", "regulatory_probe"],
        },
    ),
    (
        "Kestrel Bank Holdings regulatory problems and lawsuits",
        {
            "company": "Kestrel Bank Holdings",
            "event": ["lawsuit_filed", "lawsuit_settled", "regulatory_fine", "regulatory_probe"],
        },
    ),
    (
        "Ravelle Pharmaceuticals clinical trials",
        {"company": "Ravelle Pharmaceuticals", "event": ["trial_success", "trial_failure", "drug_approval"]},
    ),
    (
        "Lumetric Devices rating changes",
        {
            "company": "Lumetric Devices",
            "event": ["rating_upgrade", "rating_downgrade", "analyst_upgrade", "analyst_downgrade"],
        },
    ),
    ("Vireo Analytics acquisition", {"mentions": ["Vireo Analytics"], "event": ["acquisition", "merger_completed"]}),
    ("Brambleworks CEO change", {"company": "Brambleworks", "event": ["ceo_departure", "ceo_appointment"]}),
    ("Aeroventa Airlines news", {"mentions": ["Aeroventa Airlines"]}),
    ("Blackfen Energy", {"mentions": ["Blackfen Energy"]}),
    ("Cloudmere Systems", {"mentions": ["Cloudmere Systems"]}),
    # sentiment-specific
    ("bad news for Ostrander Pharma", {"company": "Ostrander Pharma", "tone": "negative"}),
    ("good news for Galewright Energy", {"company": "Galewright Energy", "tone": "positive"}),
    ("positive developments at Hollowmere Assurance", {"company": "Hollowmere Assurance", "tone": "positive"}),
    ("Lumetric Devices troubles", {"company": "Lumetric Devices", "tone": "negative"}),
    ("negative outlook for airlines", {"sector": "airlines", "tone": "negative", "kind": "company"}),
    ("positive news about renewable energy companies", {"sector": "renewables", "tone": "positive"}),
    ("upbeat news on semiconductor stocks", {"sector": "semiconductors", "tone": "positive", "kind": "company"}),
    ("troubled mining companies", {"sector": "mining", "tone": "negative"}),
    ("bad news for banks", {"sector": "banks", "tone": "negative", "kind": "company"}),
    ("insurance companies negative news", {"sector": "insurance", "tone": "negative"}),
    ("automaker struggles", {"sector": "autos", "tone": "negative", "kind": "company"}),
    ("good news for retailers", {"sector": "retail", "tone": "positive", "kind": "company"}),
    ("industrial companies order growth", {"sector": "industrials", "tone": "positive", "kind": "company"}),
    ("software company problems", {"sector": "software", "tone": "negative", "kind": "company"}),
)


class Judge:
    """Collects relevant ids per query while documents stream past, so judging a large corpus
    keeps only the matching ids, never the documents or their labels."""

    def __init__(self, queries: Iterable[tuple[str, Mapping[str, object]]] = RELEVANCE_QUERIES) -> None:
        self.queries = list(queries)
        self.hits: list[list[str]] = [[] for _ in self.queries]

    def add(self, doc_id: str, labels: Labels) -> None:
        for slot, (_, criteria) in enumerate(self.queries):
            if labels.matches(criteria):
                self.hits[slot].append(doc_id)

    def rows(self) -> list[dict]:
        return [
            {"query_id": f"q{number:02d}", "query": text, "relevant_ids": ids, "criteria": dict(criteria)}
            for number, ((text, criteria), ids) in enumerate(zip(self.queries, self.hits, strict=True), start=1)
        ]


def judge(
    labelled: Iterable[tuple[str, Labels]], queries: Iterable[tuple[str, Mapping[str, object]]] = RELEVANCE_QUERIES
) -> list[dict]:
    """Judge each query against ``(doc_id, labels)`` pairs: relevant means the labels satisfy
    the query's criteria. Returns one row per query, as written to relevance JSONL."""
    judgement = Judge(queries)
    for doc_id, labels in labelled:
        judgement.add(doc_id, labels)
    return judgement.rows()


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    written = 0
    # Written beside the target and renamed, so an interrupted run never leaves half a file.
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False))
            out.write("\n")
            written += 1
    os.replace(partial, path)
    return written


def write_relevance(path: Path | str, count: int = SAMPLE_COUNT, seed: int = SAMPLE_SEED) -> list[dict]:
    """Judge :data:`RELEVANCE_QUERIES` against the corpus ``(count, seed)`` and write JSONL."""
    judged = judge((record["id"], labels) for record, labels in generate_news(count, seed))
    _write_jsonl(Path(path), judged)
    return judged


def relevance_summary(judged: Iterable[Mapping[str, object]]) -> dict[str, float]:
    """Min/median/max relevant documents per query: handy when tuning the query set."""
    sizes = [len(row["relevant_ids"]) for row in judged]  # type: ignore[arg-type]
    return {"queries": len(sizes), "min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)}


@dataclass(frozen=True)
class CorpusStats:
    path: Path
    documents: int
    seconds: float
    relevance_path: Path | None = None
    queries: int = 0
    relevant_per_query: dict[str, float] | None = None  # queries, min, median, max


def write_corpus(
    path: Path | str,
    count: int = SAMPLE_COUNT,
    seed: int = SAMPLE_SEED,
    *,
    relevance_path: Path | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> CorpusStats:
    """Write ``count`` records as JSONL, one at a time. With ``relevance_path`` the judged query
    set for the same corpus is written too, judged on the way (only matching ids are kept).
    ``progress`` is called with the number of records written so far."""
    started = time.perf_counter()
    judgement = Judge() if relevance_path is not None else None

    def rows() -> Iterator[dict]:
        for done, (record, labels) in enumerate(generate_news(count, seed), start=1):
            if judgement is not None:
                judgement.add(record["id"], labels)
            yield record
            if progress is not None:
                progress(done)

    written = _write_jsonl(Path(path), rows())
    queries, summary = 0, None
    if relevance_path is not None and judgement is not None:
        judged = judgement.rows()
        queries = _write_jsonl(Path(relevance_path), judged)
        summary = relevance_summary(judged)
    return CorpusStats(
        Path(path),
        written,
        time.perf_counter() - started,
        Path(relevance_path) if relevance_path is not None else None,
        queries,
        summary,
    )


# --------------------------------------------------------------------------------------------
# Load-benchmark queries
# --------------------------------------------------------------------------------------------

_BENCH_TOPICS = (
    "earnings beat",
    "missed earnings",
    "profit warning",
    "raised guidance",
    "dividend increase",
    "dividend cut",
    "share buyback",
    "acquisition talks",
    "layoffs",
    "restructuring plan",
    "new product",
    "regulatory fine",
    "antitrust probe",
    "lawsuit",
    "legal settlement",
    "credit downgrade",
    "credit upgrade",
    "CEO change",
    "supply chain problems",
    "data breach",
    "plant closure",
    "new factory",
    "big contract",
    "product recall",
    "default risk",
    "IPO plans",
    "analyst upgrade",
    "analyst downgrade",
    "bond sale",
    "record revenue",
    "weak demand",
    "margin pressure",
    "cost cuts",
    "investor day",
    "strong sales",
    "falling sales",
)
_BENCH_MACRO = (
    "rate hike",
    "rate cut",
    "inflation report",
    "jobs report",
    "oil price spike",
    "falling oil prices",
    "stronger dollar",
    "weaker euro",
    "rising bond yields",
    "falling bond yields",
    "new tariffs",
    "trade deal",
    "recession fears",
    "GDP growth",
)
_BENCH_TIMES = (
    "",
    "this week",
    "today",
    "last quarter",
    "in 2025",
    "in 2026",
    "this year",
    "last month",
    "recently",
    "over the past year",
    "since January",
    "in the first half",
)
_BENCH_TEMPLATES = (
    "{co} {topic} {time}",
    "{topic} at {co} {time}",
    "{nouns} {topic} {time}",
    "latest {adj} news on {topic} {time}",
    "how did {co} shares react to the {topic}",
    "{macro} impact on {nouns} {time}",
    "which {nouns} reported {topic} {time}",
    "{co} stock after {macro}",
    "news about {co} and {topic}",
    "{nouns} hit by {macro} {time}",
    "is {co} affected by {macro}",
    "{topic} among {adj} companies {time}",
)


def benchmark_queries(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct search phrases for load tests, so that no two hit the same cache
    entry. Built from templates x companies x topics x time phrases; up to about 100,000 come
    quickly, and ValueError is raised when ``count`` is more than the combinations allow."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise ValueError(f"could only build {len(seen)} distinct queries, asked for {count}")
        company = rng.choice(COMPANIES)
        sector = SECTOR_BY_KEY[company.sector] if rng.random() < 0.5 else rng.choice(SECTORS)
        text = rng.choice(_BENCH_TEMPLATES).format(
            co=company.name,
            topic=rng.choice(_BENCH_TOPICS),
            macro=rng.choice(_BENCH_MACRO),
            time=rng.choice(_BENCH_TIMES),
            nouns=sector.nouns,
            adj=sector.adj,
        )
        seen.setdefault(" ".join(text.split()), None)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

corpus_cli = AppGroup(
    "corpus",
    help="Generate synthetic financial news (fictional companies, invented text) for tests and benchmarks.",
)


@corpus_cli.command("generate", with_appcontext=False)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=SAMPLE_COUNT,
    show_default=True,
    help="Number of news records to write.",
)
@click.option(
    "--seed",
    type=int,
    default=SAMPLE_SEED,
    show_default=True,
    help="Random seed; the same count and seed always produce the same bytes.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SAMPLE_PATH,
    show_default=True,
    help="JSONL file to write (replaced if it exists).",
)
@click.option(
    "--relevance",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the judged relevance queries for this corpus to this JSONL file.",
)
def generate_command(count: int, seed: int, output: Path, relevance: Path | None) -> None:
    """Write COUNT synthetic news records as JSONL (one NewsRecord per line).

    The defaults regenerate the committed sample; add --relevance data/relevance.jsonl to
    regenerate its judged query set as well.
    """
    with tqdm(total=count, unit="doc", desc="generating", disable=None) as bar:
        last = 0

        def advance(done: int) -> None:
            nonlocal last
            if done - last >= 500 or done == count:
                bar.update(done - last)
                last = done

        stats = write_corpus(output, count, seed, relevance_path=relevance, progress=advance)
    rate = stats.documents / stats.seconds if stats.seconds else float("inf")
    click.echo(f"Wrote {stats.documents:,} documents to {stats.path} in {stats.seconds:.2f} s ({rate:,.0f} docs/s).")
    if stats.relevance_path is not None and stats.relevant_per_query is not None:
        sizes = stats.relevant_per_query
        click.echo(
            f"Wrote {stats.queries} judged queries to {stats.relevance_path} "
            f"(relevant documents per query: min {sizes['min']}, median {sizes['median']}, max {sizes['max']})."
        )


if __name__ == "__main__":
    corpus_cli.main(prog_name="python -m webapp.corpus")
