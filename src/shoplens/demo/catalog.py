"""The demo shop's catalog: categories, brands, products with prices and popularity.

Prices are drawn in US dollars per category range (log-uniform, so cheap items are
common), converted with a rough rate into the tenant's base currency and rounded the way
shops price: ``24.99``, ``2099`` rupees, ``3,780`` yen. Popularity is Zipf-like over a
shuffled rank, so every category has a few best sellers and a long tail.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from shoplens.ingest.money import exponent

# Rough units of a currency per US dollar: enough to make prices look local. Unknown
# currencies are priced as dollars.
USD_RATES: dict[str, float] = {
    "USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36, "AUD": 1.52, "NZD": 1.65,
    "CHF": 0.88, "SEK": 10.5, "NOK": 10.6, "DKK": 6.9, "PLN": 4.0, "CZK": 23.0,
    "JPY": 150.0, "KRW": 1350.0, "CNY": 7.2, "HKD": 7.8, "SGD": 1.35, "INR": 83.0,
    "BRL": 5.0, "MXN": 17.0, "ZAR": 18.5, "AED": 3.67, "TRY": 32.0,
}  # fmt: skip


@dataclass(frozen=True)
class Category:
    name: str
    nouns: tuple[tuple[str, float], ...]  # product type, typical price in US dollars
    adjectives: tuple[str, ...]
    brands: tuple[str, ...]
    share: float  # of the catalog
    variants: str  # "apparel", "shoes", "colors", "sizes_ml"
    refund_rate: float  # of orders with an item of this category
    complements: tuple[str, ...]  # categories bought with it


_WEAR = ("Classic", "Essential", "Everyday", "Premium", "Organic", "Relaxed", "Slim", "Vintage",
         "Heritage", "Signature", "Recycled", "Coastal", "Urban", "Alpine", "Weekend")  # fmt: skip
CATEGORIES: tuple[Category, ...] = (
    Category(
        "Apparel",
        (("T-Shirt", 28), ("Hoodie", 65), ("Oxford Shirt", 59), ("Denim Jacket", 98),
         ("Chinos", 69), ("Slim Jeans", 79), ("Merino Sweater", 89), ("Polo Shirt", 45),
         ("Wrap Dress", 85), ("Leggings", 49), ("Puffer Jacket", 169), ("Cardigan", 75),
         ("Linen Shirt", 62), ("Joggers", 55), ("Rain Jacket", 129), ("Socks 3-Pack", 18)),
        _WEAR, ("Northwind", "Harbor & Pine", "Atelier Nord", "Fieldhouse", "Copper Lane",
                "Mistral"),
        0.30, "apparel", 0.07, ("Shoes", "Accessories"),
    ),
    Category(
        "Shoes",
        (("Running Shoes", 129), ("Sneakers", 95), ("Chelsea Boots", 179), ("Loafers", 139),
         ("Sandals", 59), ("Trail Runners", 145), ("Hiking Boots", 189), ("Slip-On Sneakers", 75),
         ("High-Top Sneakers", 110), ("Ankle Boots", 159)),
        ("Classic", "Pro", "Ultra", "Lite", "Heritage", "Everyday", "Recycled", "Alpine", "Urban"),
        ("Stride Lab", "Trailborne", "Northwind", "Oakridge"),
        0.14, "shoes", 0.08, ("Apparel", "Accessories"),
    ),
    Category(
        "Accessories",
        (("Leather Belt", 49), ("Bifold Wallet", 45), ("Backpack", 119), ("Tote Bag", 65),
         ("Sunglasses", 89), ("Beanie", 29), ("Analog Watch", 189), ("Wool Scarf", 55),
         ("Baseball Cap", 32), ("Crossbody Bag", 98), ("Card Holder", 35), ("Weekender Bag", 179)),
        ("Classic", "Essential", "Heritage", "Signature", "Minimal", "Vintage", "Everyday"),
        ("Copper Lane", "Harbor & Pine", "Maison Clé", "Oakridge"),
        0.14, "colors", 0.03, ("Apparel", "Shoes"),
    ),
    Category(
        "Home",
        (("Ceramic Mug", 18), ("Throw Blanket", 79), ("Scented Candle", 34),
         ("Linen Duvet Cover", 149), ("Table Lamp", 119), ("Plant Pot", 29),
         ("Bath Towel Set", 59), ("Cast Iron Skillet", 55), ("Chef's Knife", 89),
         ("Cutting Board", 42), ("Glass Carafe", 32), ("Cushion Cover", 25)),
        ("Classic", "Stoneware", "Nordic", "Artisan", "Everyday", "Organic", "Studio", "Coastal"),
        ("Kinfolk Supply", "Solace", "Hearth & Co", "Lumen"),
        0.16, "colors", 0.03, ("Home",),
    ),
    Category(
        "Beauty",
        (("Face Serum", 38), ("Moisturizer", 32), ("Lip Balm", 9), ("Shampoo", 19),
         ("Eau de Parfum", 85), ("Sunscreen SPF 50", 24), ("Gel Cleanser", 22), ("Hair Oil", 28),
         ("Eye Cream", 42), ("Body Lotion", 21), ("Clay Mask", 26), ("Hand Cream", 14)),
        ("Hydrating", "Vitamin C", "Botanical", "Daily", "Calming", "Repair", "Radiance"),
        ("Verde Botanics", "Glow Theory", "Solace", "Maison Clé"),
        0.14, "sizes_ml", 0.02, ("Beauty",),
    ),
    Category(
        "Electronics",
        (("Wireless Earbuds", 129), ("Bluetooth Speaker", 89), ("Phone Case", 29),
         ("USB-C Charger", 35), ("Smartwatch", 249), ("Power Bank", 49),
         ("Noise-Cancelling Headphones", 299), ("Mechanical Keyboard", 139), ("Webcam", 79),
         ("Fitness Tracker", 99), ("Charging Stand", 45)),
        ("Pro", "Mini", "Max", "Air", "Go", "Plus", "Lite", "Studio"),
        ("Voltix", "Pulse Audio", "Nimbus", "Lumen"),
        0.12, "colors", 0.05, ("Electronics",),
    ),
)  # fmt: skip
COLORS = ("Black", "White", "Navy", "Grey", "Olive", "Sand", "Burgundy", "Sky Blue", "Charcoal")
APPAREL_SIZES = (("XS", 4), ("S", 14), ("M", 30), ("L", 28), ("XL", 16), ("XXL", 8))
SHOE_SIZES = tuple(
    (f"US {s}", w) for s, w in zip(range(6, 14), (3, 6, 10, 15, 18, 16, 12, 7), strict=True)
)
# Collections a visitor browses besides the categories.
COLLECTIONS = ("new-arrivals", "best-sellers", "sale", "gift-guide")


@dataclass(frozen=True, eq=False)
class Product:
    index: int
    item_id: str
    name: str
    slug: str
    category: Category
    brand: str
    price: int  # minor units of the base currency
    variants: tuple[str, ...]
    variant_cum: tuple[float, ...]  # cumulative weights of the variants
    item: dict[str, Any]  # the ecommerce item object, without quantity and variant
    path: str  # "/products/<slug>"
    appeal: float  # cheaper things are viewed and bought more readily

    def variant(self, rng: random.Random) -> str:
        if not self.variants:
            return ""
        return self.variants[bisect(self.variant_cum, rng.random() * self.variant_cum[-1])]


def slugify(text: str) -> str:
    out = "".join(
        c.lower() if c.isalnum() else "-" for c in text.replace("'", "").replace("é", "e")
    )
    return "-".join(part for part in out.split("-") if part)


def nice_price(usd: float, currency: str, rng: random.Random) -> int:
    """A shop-like price in minor units: 24.99, 139.00, 2,099, ¥3,780."""
    digits = exponent(currency)
    major = usd * USD_RATES.get(currency, 1.0)
    step = max(1.0, 10 ** (math.floor(math.log10(max(major, 1.0))) - 1))
    whole = math.ceil(major / step) * step
    unit = 10**digits
    if digits == 0:
        step = max(step, 10.0)
        whole = math.ceil(major / step) * step
        charm = step // 5 if step >= 100 and rng.random() < 0.6 else 0
        return max(int(step), int(whole - charm))
    if step <= 1:
        cents = unit - 1 if digits < 2 or rng.random() < 0.8 else unit - 5 * 10 ** (digits - 2)
        return max(1, int(whole - 1) * unit + cents)
    return int(whole) * unit - (unit if rng.random() < 0.7 else 0)


def _variants(category: Category, rng: random.Random) -> tuple[tuple[str, ...], tuple[float, ...]]:
    colors = rng.sample(COLORS, rng.randint(2, 4))
    if category.variants == "apparel":
        pairs = [(f"{c} / {s}", w) for c in colors[:3] for s, w in APPAREL_SIZES]
    elif category.variants == "shoes":
        pairs = [(f"{c} / {s}", w) for c in colors[:2] for s, w in SHOE_SIZES]
    elif category.variants == "colors":
        pairs = [(c, 1) for c in colors]
    elif category.variants == "sizes_ml":
        pairs = [("30 ml", 3), ("50 ml", 2), ("100 ml", 1)]
    else:
        return (), ()
    return tuple(p[0] for p in pairs), tuple(accumulate(float(p[1]) for p in pairs))


@dataclass
class Catalog:
    products: list[Product]
    cum: list[float]  # cumulative popularity over all products
    by_category: dict[str, tuple[list[Product], list[float]]]
    complements: list[tuple[Product, ...]] = field(default_factory=list)
    search_terms: list[tuple[str, Category]] = field(default_factory=list)
    search_cum: list[float] = field(default_factory=list)

    def popular(self, rng: random.Random) -> Product:
        return self.products[bisect(self.cum, rng.random() * self.cum[-1])]

    def in_category(self, name: str, rng: random.Random) -> Product:
        products, cum = self.by_category[name]
        return products[bisect(cum, rng.random() * cum[-1])]

    def search_term(self, rng: random.Random) -> tuple[str, Category]:
        return self.search_terms[bisect(self.search_cum, rng.random() * self.search_cum[-1])]


def build_catalog(size: int, currency: str, rng: random.Random) -> Catalog:
    """``size`` products over the categories, priced in ``currency``."""
    digits = exponent(currency)
    products: list[Product] = []
    nouns: list[str] = []
    names: set[str] = set()
    for category in CATEGORIES:
        for _ in range(max(len(category.nouns), round(size * category.share))):
            name, noun, usd = "", "", 0.0
            while not name or name in names:
                brand, (noun, usd) = rng.choice(category.brands), rng.choice(category.nouns)
                name = f"{brand} {rng.choice(category.adjectives)} {noun}"
            names.add(name)
            usd *= rng.lognormvariate(0, 0.3)
            price = nice_price(usd, currency, rng)
            index = len(products)
            slug = slugify(name)
            item_id = f"SKU-{10000 + index * 7}"
            variants, variant_cum = _variants(category, rng)
            item = {
                "item_id": item_id,
                "item_name": name,
                "item_category": category.name,
                "item_brand": brand,
                "price": price / 10**digits if digits else price,
            }
            products.append(
                Product(
                    index, item_id, name, slug, category, brand, price, variants, variant_cum,
                    item, f"/products/{slug}", (60 / usd) ** 0.25,
                )
            )  # fmt: skip
            nouns.append(noun.lower())
    # Zipf-like popularity over a shuffled rank: a few best sellers in every category.
    ranks = list(range(len(products)))
    rng.shuffle(ranks)
    weights = [p.appeal**1.6 / (rank + 3) ** 1.1 for p, rank in zip(products, ranks, strict=True)]
    by_category: dict[str, tuple[list[Product], list[float]]] = {}
    for category in CATEGORIES:
        members = [p for p in products if p.category is category]
        by_category[category.name] = (
            members,
            list(accumulate(weights[p.index] for p in members)),
        )
    catalog = Catalog(products, list(accumulate(weights)), by_category)
    for product in products:
        other = rng.choice(product.category.complements)
        picks = {catalog.in_category(product.category.name, rng) for _ in range(2)}
        picks.add(catalog.in_category(other, rng))
        picks.discard(product)
        catalog.complements.append(tuple(sorted(picks, key=lambda p: p.index)))
    # What visitors type: product types, brands and "brand type", by popularity.
    terms: dict[str, tuple[float, Category]] = {}
    for product, noun in zip(products, nouns, strict=True):
        for term in (noun, product.brand.lower(), f"{product.brand.lower()} {noun}"):
            weight, category = terms.get(term, (0.0, product.category))
            terms[term] = (weight + weights[product.index], category)
    catalog.search_terms = [(term, category) for term, (_, category) in terms.items()]
    catalog.search_cum = list(accumulate(w for w, _ in terms.values()))
    return catalog
