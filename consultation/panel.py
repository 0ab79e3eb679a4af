"""The dashboard panel: consultations under way and opinions still without a reply."""

from __future__ import annotations

from common.db import db
from consultation.models import Consultation
from consultation.services import unanswered_count


def panel(user):
    if not user.has_role("officer"):
        return None
    rows = (
        db.session.execute(
            db.select(Consultation)
            .where(Consultation.status.in_(("scheduled", "open", "closed")))
            .order_by(Consultation.start_date)
        )
        .scalars()
        .all()
    )
    items = [{"c": c, "unanswered": unanswered_count(c), "opinions": len(c.opinions)} for c in rows]
    return "consultation/_panel.html", {"entries": items}
