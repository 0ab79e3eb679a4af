"""The one blueprint of the pia package; views live in several modules."""

from flask import Blueprint

bp = Blueprint("pia", __name__)
