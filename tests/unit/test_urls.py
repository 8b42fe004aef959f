"""URLs: what is accepted, and a password never shown."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.urls import check_webhook_url, header_value, redact, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@host/p?q=1", "https://user:***@host/p?q=1"),
        ("http://user:p%40ss@host:8080/", "http://user:***@host:8080/"),
        ("http://:secret@host/", "http://:***@host/"),
        ("http://user@host/", "http://user@host/"),
        ("http://host/", "http://host/"),
    ],
)
def test_redact_hides_only_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_scrub_hides_passwords_inside_free_text() -> None:
    text = "InvalidURL: http://n8n:s3cr3t@hooks.local/x is wrong"
    assert scrub(text) == "InvalidURL: http://n8n:***@hooks.local/x is wrong"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://a/b", "http:// or https://"),
        ("http:///path", "must name a host"),
        ("http://a:0/", "port 0"),
        ("http://a b/", "white space"),
        ("http://a/\x7f", "control"),
        ("http://a:99999/", "not a valid URL"),
    ],
)
def test_unusable_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_webhook_url(url)


# Ids never hold lone surrogates: the JSON parser refuses them before validation.
@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64))
def test_header_values_are_ascii_and_decode_back(text: str) -> None:
    encoded = header_value(text)
    assert encoded.isascii()
    assert unquote(encoded) == text


def test_common_ids_pass_unchanged() -> None:
    assert header_value("order:42_a-b.c~d@e") == "order:42_a-b.c~d@e"
