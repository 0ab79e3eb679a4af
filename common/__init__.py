"""What the domains share: database, auth and roles, audit trail, rendering, masking."""
