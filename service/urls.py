"""Webhook URLs: what the API accepts, and how a URL is shown without its password."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit

MAX_URL_LENGTH = 2048
# Characters an id keeps as they are in a header value (RFC 3986 unreserved, sub-delims,
# ':' and '@'); everything else, '%' and any non-ASCII character included, is
# percent-encoded as UTF-8, so headers stay ASCII and receivers decode with one rule.
_HEADER_SAFE = "-._~!$&'()*+,;=:@"
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_PASSWORD_IN_TEXT = re.compile(r"(//[^/\s:@]*):[^/\s@]*@")


def check_webhook_url(value: str) -> SplitResult:
    """The URL's parts; ValueError saying what is wrong when it is not a usable http(s) URL."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if port == 0:
        raise ValueError("must not use port 0")
    if _SPACE_OR_CONTROL.search(value):
        raise ValueError("must not contain white space or control characters")
    return parts


def redact(url: str) -> str:
    """The URL with any password replaced by `***`: what responses, logs and spans show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return parts._replace(netloc=f"{name}:***@{host}").geturl()


def header_value(text: str) -> str:
    """`text` as an ASCII header value; ids of letters, digits and -._~:@ pass unchanged."""
    return quote(text, safe=_HEADER_SAFE)


def scrub(text: str) -> str:
    """Any `//user:password@` inside free text (an error message) with the password hidden."""
    return _PASSWORD_IN_TEXT.sub(r"\1:***@", text)
