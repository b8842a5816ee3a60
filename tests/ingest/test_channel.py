"""Channel rules: every row of docs/channels.md's tables is a test case, read from the doc.

The doc is the specification; reading it here keeps doc and code from drifting apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplens.ingest import channel
from shoplens.ingest.channel import CHANNELS, CLICK_IDS, category_of, classify, rule_channel
from shoplens.ingest.event import Event
from shoplens.ingest.normalize import apply_page

DOC = Path(__file__).resolve().parents[2] / "docs" / "channels.md"


def table(heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after ``heading``, cells stripped of
    backticks."""
    lines = DOC.read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([c.strip().strip("`") for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and separator


RULE_ROWS = table("## Step 2: the rules")
REFERRER_ROWS = table("## Examples: referrers")
CLICK_TABLE = table("Click ids (untagged ad clicks; tags win when both are present):")


def test_the_doc_tables_were_read() -> None:
    assert len(RULE_ROWS) == len(channel.RULES) + 1  # plus "unassigned"
    assert len(REFERRER_ROWS) >= 20
    assert len(CLICK_TABLE) == 10


def test_the_rules_table_lists_the_rules_in_code_order() -> None:
    assert [row[1] for row in RULE_ROWS[:-1]] == [name for name, _ in channel.RULES]
    assert set(CHANNELS) == {row[1] for row in RULE_ROWS} | {"direct", "internal"}


@pytest.mark.parametrize("row", RULE_ROWS, ids=[r[1] for r in RULE_ROWS])
def test_rule_examples(row: list[str]) -> None:
    _, expected, _, source, medium, campaign = row
    assert rule_channel(source, medium, campaign) == expected
    # Tagged events go through the same rules whatever their referrer.
    assert classify("https://shop.example/", "https://shop.example/", source, medium, campaign) == (
        expected
    )


@pytest.mark.parametrize("row", REFERRER_ROWS, ids=[f"{r[0]} {r[1]}" for r in REFERRER_ROWS])
def test_referrer_examples(row: list[str]) -> None:
    page, referrer, expected = row
    event = Event(tenant_id=1, event_id="e", event_type="page_view", event_name="", source="",
                  timestamp=0, received_at=0)  # fmt: skip
    apply_page(event, page, referrer)  # fills utm_* from the page URL, as ingestion does
    got = classify(
        event.page_url, event.referrer, event.utm_source, event.utm_medium, event.utm_campaign
    )
    assert got == expected


@pytest.mark.parametrize("row", CLICK_TABLE, ids=[r[0] for r in CLICK_TABLE])
def test_click_id_table_matches_the_code(row: list[str]) -> None:
    names = [name.strip().strip("`") for name in row[0].split(",")]
    for name in names:
        assert CLICK_IDS[name] == (row[1], row[2])


def test_tags_win_over_click_ids_and_click_ids_over_referrers() -> None:
    page = "https://shop.example/?gclid=abc"
    assert classify(page, "https://www.bing.com/") == "paid_search"
    assert classify(page, "https://www.bing.com/", "newsletter", "email") == "email"
    assert classify("https://shop.example/?fbclid=x", "") == "organic_social"


@pytest.mark.parametrize(
    ("source", "category"),
    [
        ("google", "search"),
        ("Google", "search"),
        ("www.google.com.br", "search"),
        ("google.co.jp", "search"),
        ("mail.google.com", "email"),
        ("l.instagram.com", "social"),
        ("ig", "social"),
        ("m.youtube.com", "video"),
        ("www.paypal.com", "payment"),
        ("pay.klarna.com", "payment"),
        ("klarna-reviews.example", ""),  # a label alone never makes a payment processor
        ("ask.example.com", ""),  # nor does a registered name deep in someone else's host
        ("medium.com", ""),
        ("", ""),
    ],
)
def test_source_categories(source: str, category: str) -> None:
    assert category_of(source) == category


def test_referrer_garbage_is_direct_not_an_error() -> None:
    assert classify("https://shop.example/", "not a url") == "direct"
    assert classify("https://shop.example/", "http://[::1") == "direct"
    assert classify("/relative/path", "https://www.google.com/") == "organic_search"
