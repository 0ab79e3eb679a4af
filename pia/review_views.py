"""Routes of pia.review_views (added to pia.blueprint.bp)."""
