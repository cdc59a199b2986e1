"""Keeping database secrets out of errors, logs, the admin and history.

Driver errors and DSNs can carry a connection string (``postgres://user:secret@host/db``)
or a ``password=...`` pair; ``scrub`` masks both, and the password of every configured
database wherever it appears, however it is spelled there (as is, URL-quoted, escaped).
``ExceptionReporterFilter`` does the same for Django's error pages and reports: settings,
and each frame's variables however deeply they hold it (the ``conn_params`` dict a driver
was given, say); ``ExceptionReporter`` masks what is left in the page as rendered (the
exception's own message). ``ScrubFilter`` masks log records.
"""

from __future__ import annotations

import functools
import html
import logging
import pprint
import re
from collections.abc import ItemsView
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from django.views import debug

MASK = "********"

# scheme://user:password@host  ->  scheme://user:********@host. The password runs to the
# last '@' before the host: an unquoted '@' in it must not leave its tail showing.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^\s/]+?)(?=@[^@\s/]*(?:[/\s?]|$))"
)
# password=secret, password='se cret' or 'password': 'secret' in DSNs and dict reprs.
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)['\"]?\s*[=:]\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^'\"\s,;}&]+)",
    re.IGNORECASE,
)
_KEY_HINT = re.compile(r"passw|pwd", re.IGNORECASE)
# Very short passwords would mask ordinary words; the patterns above still catch them.
_SHORTEST_MASKED = 4


def scrub(text: str) -> str:
    """``text`` with connection-string passwords and configured database passwords masked."""
    if not text:
        return text
    # The configured passwords first, whole: a pattern would stop at an '@' or a space in one.
    for spelling in _spellings(frozenset(_configured_passwords())):
        if spelling in text:
            text = text.replace(spelling, MASK)
    # Each pattern only where its anchor occurs: most texts (log lines) have neither.
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    if _KEY_HINT.search(text):
        text = _KEY_PASSWORD.sub(_mask_value, text)
    return text


def _mask_value(match: re.Match) -> str:
    secret = match["secret"]
    quote_mark = secret[0] if secret[0] in "'\"" else ""
    return f"{match['head']}{quote_mark}{MASK}{quote_mark}"


@functools.lru_cache(maxsize=8)
def _spellings(passwords: frozenset[str]) -> tuple[str, ...]:
    """Each of ``passwords`` as it may appear in text, longest first."""
    spellings: set[str] = set()
    for password in passwords:
        for spelling in (
            password,
            quote(password, safe=""),  # in a URL
            quote(password),
            quote_plus(password),
            repr(password)[1:-1],  # in a repr: backslashes and quotes escaped
            password.replace("\\", "\\\\").replace("'", "\\'"),  # a libpq conninfo value
        ):
            spellings.update((spelling, html.escape(spelling)))  # and in a rendered page
    return tuple(sorted(spellings, key=len, reverse=True))


def _configured_passwords() -> set[str]:
    databases = getattr(settings, "DATABASES", {}) if settings.configured else {}
    passwords = set()
    for config in databases.values():
        options = config.get("OPTIONS") or {}
        for value in (config.get("PASSWORD"), options.get("password"), options.get("passwd")):
            if value and len(str(value)) >= _SHORTEST_MASKED:
                passwords.add(str(value))
    return passwords


class _Masked:
    """A frame variable shown by its masked representation (Django pretty-prints ``repr``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def mask_object(value: Any) -> Any:
    """``value`` itself if its representation reveals no secret, else a masked stand-in.

    Whatever holds the secret (a dict of connection parameters, a list of them, an object
    whose ``repr`` quotes a DSN) is judged by the text an error page would show for it.
    """
    if isinstance(value, str):
        return scrub(value)
    try:
        shown = pprint.pformat(value)
    except Exception:
        return value
    masked = scrub(shown)
    return value if masked == shown else _Masked(masked)


class ExceptionReporterFilter(debug.SafeExceptionReporterFilter):
    """Django's filter, plus masking of passwords inside setting values and frame variables.

    Enable with ``DEFAULT_EXCEPTION_REPORTER_FILTER =
    "schema_manager.security.ExceptionReporterFilter"``.
    """

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return scrub(cleansed)
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> ItemsView[str, Any]:
        # Whatever DEBUG says: the demo runs with DEBUG on, and its page must not show them.
        return {
            name: mask_object(value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        }.items()


class ExceptionReporter(debug.ExceptionReporter):
    """Django's reporter, with configured passwords masked in the page and text it renders
    (the exception's own message, say, which no filter sees).

    Enable with ``DEFAULT_EXCEPTION_REPORTER = "schema_manager.security.ExceptionReporter"``.
    """

    # Still what Django's templates rendered (escaped): masking replaces text and adds no markup.
    def get_traceback_html(self) -> SafeString:
        return mark_safe(scrub(super().get_traceback_html()))

    def get_traceback_text(self) -> SafeString:
        return mark_safe(scrub(super().get_traceback_text()))


class ScrubFilter(logging.Filter):
    """Masks secrets in a log record's message and traceback before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: logging reports it itself
            return True
        masked = scrub(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records are scrubbed (``ScrubFilter``)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, ScrubFilter) for f in logger.filters):
        logger.addFilter(ScrubFilter())
    return logger
