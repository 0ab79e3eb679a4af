"""The public portal (no login): published assessments, consultations, search, Atom feed.

The top floor of the house: it reads the domain packages (pia, consultation) and nothing
imports it but app.py. Its pages live in :mod:`portal.views` (blueprint ``public``, under
``/public``); the consultation intake form and result reports stay consultation's pages.
"""

from __future__ import annotations


def init_app(app) -> None:
    from portal.views import bp

    app.register_blueprint(bp)
