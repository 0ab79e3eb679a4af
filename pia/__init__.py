"""pia package."""
