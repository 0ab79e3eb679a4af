"""Routes of pia.views (added to pia.blueprint.bp)."""
