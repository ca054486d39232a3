"""
Log lines that cannot lie and cannot leak: every handler in settings.LOGGING formats
through SafeFormatter, and the production access log (voicehub_site.serve) through safe_line().

- One record, one line. A path, a header or a synthesis text is the client's; written raw,
  "\\r\\n[INFO] fake line" would start a record nobody logged and "\\x1b[2J" would drive the
  operator's terminal. Control characters (C0, DEL, C1, the Unicode line and paragraph
  separators, the bidirectional overrides) are written escaped, as Python writes them in a
  string literal (\\r, \\n, \\x1b, \\u2028), the spelling django.utils.log.log_response uses.
  A traceback keeps its lines, indented, so no line of it can pose as a record.
- No secret in a log line. Query parameters with a secret's name (`?api_key=`, `token`,
  `password`, ...), Voicehub API keys anywhere in the text, and credentials in an
  Authorization, xi-api-key or Cookie header are replaced by [redacted]. A key sent in the
  URL is refused (accounts.authentication), but the request line is still logged.

This module is imported while Django configures logging, before the apps are loaded: it
imports nothing of the project.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# Parameter names whose values are secrets, in a query string, a form body or key=value text.
# `key` is generic, but in a URL it is how clients send an API key.
SECRET_PARAMETERS = (
    "api_key", "api-key", "apikey", "key", "xi-api-key", "xi_api_key", "token", "access_token", "refresh_token",
    "id_token", "authorization", "password", "passwd", "secret", "client_secret", "signature", "sessionid",
    "csrfmiddlewaretoken",
)
_SECRET_PARAMETER = re.compile(
    r"(?P<name>(?:^|[?&;\s])(?:" + "|".join(re.escape(name).replace("_", "(?:_|%5f)") for name in SECRET_PARAMETERS) + r")=)"
    r"[^&;\s\"'#]*",
    re.IGNORECASE,
)
# A Voicehub API key (accounts.services.KEY_PATTERN) wherever it appears, whole or cut short,
# its underscores percent-encoded or not.
_API_KEY = re.compile(r"\bvh(?:_|%5[fF])[a-z0-9]{12}(?:_|%5[fF])[A-Za-z0-9_%-]+")
# A credential in a header, written as a header line or a repr of request.headers or of META
# ("name: value", "'name': 'value'"); "name=value" is a parameter, above.
_SECRET_HEADER = re.compile(
    r"(?P<name>\b(?:authorization|http_authorization|proxy-authorization|xi-api-key|http_xi_api_key|x-api-key"
    r"|http_x_api_key|cookie|http_cookie)[\"']?\s*:\s*[\"']?)[^\"'\r\n]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<name>bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def _escaped(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with its control characters written as escapes ("\\r\\n" becomes the four characters \\r\\n)."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escaped, text)


def redact(text: str) -> str:
    """`text` with secrets replaced by [redacted]; the names stay, so a reader knows what was sent."""
    text = _SECRET_HEADER.sub(lambda m: m["name"] + REDACTED, text)
    text = _SECRET_PARAMETER.sub(lambda m: m["name"] + REDACTED, text)
    text = _BEARER.sub(lambda m: m["name"] + REDACTED, text)
    return _API_KEY.sub(REDACTED, text)


def safe_line(text: str) -> str:
    """One log line: control characters escaped, secrets redacted."""
    return redact(escape_controls(str(text)))


class SafeFormatter(logging.Formatter):
    """A logging.Formatter whose output is safe_line()'s: the message on one line, a traceback indented.

    The traceback is formatted here every time rather than taken from record.exc_text, which
    another handler's formatter may have filled unescaped.
    """

    INDENT = "    "

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = safe_line(self.formatMessage(record))
        blocks = []
        if record.exc_info:
            blocks.append(self.formatException(record.exc_info))
        elif record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            block = redact(escape_controls(block, keep_newlines=True))
            text += "\n" + "\n".join(self.INDENT + line for line in block.splitlines())
        return text
