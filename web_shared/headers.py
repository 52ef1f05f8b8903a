"""The security headers every response carries, without Flask: gunicorn's own answers
(web_shared/serving_worker.py) carry them too, and the worker class is loaded by the
gunicorn master, which imports neither Flask nor the apps (backupctl/cli.py)."""

from __future__ import annotations

__all__ = ["CSP", "SECURITY_HEADERS"]

# The policy of everything that carries no page of ours (gunicorn's own plain-text
# error answers). An app's pages carry `page_csp` of their inline stylesheet instead.
CSP = (
    "default-src 'none'; style-src 'none'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


# Every response of both apps carries these, and so do gunicorn's own error responses
# (web_shared/serving_worker.py).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("Cache-Control", "no-store, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ("X-Robots-Tag", "noindex, nofollow"),
    # Identify nothing about the server software.
    ("Server", "BackUp"),
)
