"""Routes of pia.inventory_views (added to pia.blueprint.bp)."""
