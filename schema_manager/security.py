"""Keeping database secrets out of errors, logs, the admin and history.

Driver errors and DSNs can carry a connection string (``postgres://user:secret@host/db``)
or a ``password=...`` pair; ``scrub`` masks both, and the password of every configured
database wherever it appears. ``ExceptionReporterFilter`` does the same for Django's error
pages and reports, for settings such as ``DATABASE_URL`` whose names Django's own filter
does not recognise as secret.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter

MASK = "********"

# scheme://user:password@host  ->  scheme://user:********@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?=@)")
# password=secret or password: 'secret' in DSNs and dict reprs
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)['\"]?\s*[=:]\s*['\"]?)(?P<secret>[^'\"\s,;}&]+)",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """``text`` with connection-string passwords and configured database passwords masked."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _KEY_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    for password in _configured_passwords():
        text = text.replace(password, MASK)
    return text


def _configured_passwords() -> set[str]:
    databases = getattr(settings, "DATABASES", {}) if settings.configured else {}
    # Very short passwords would mask ordinary words; the patterns above still catch them.
    return {
        str(config.get("PASSWORD"))
        for config in databases.values()
        if config.get("PASSWORD") and len(str(config.get("PASSWORD"))) >= 4
    }


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus masking of passwords inside URL- and DSN-style setting values.

    Enable with ``DEFAULT_EXCEPTION_REPORTER_FILTER =
    "schema_manager.security.ExceptionReporterFilter"``.
    """

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return scrub(cleansed)
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> list:
        return [
            (name, scrub(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
