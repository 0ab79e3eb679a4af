"""HTTP security headers; the CSP allows no inline script and no third-party origin."""

from __future__ import annotations

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def init_app(app):
    defaults = HEADERS + ((HSTS,) if app.config.get("SESSION_COOKIE_SECURE") else ())

    @app.after_request
    def _headers(response):
        # a view may set its own value of any of these (a PDF's Cache-Control, say); the names
        # present are read in one pass: werkzeug's Headers.setdefault raises and catches a
        # KeyError for each header not yet there, a tenth of a cached page's time
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        if response.mimetype == "text/html" and "cache-control" not in present:
            headers["Cache-Control"] = "no-store"
        return response
