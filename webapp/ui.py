"""The search page for people. It calls the same JSON API as every other client."""

from flask import Blueprint, render_template

from webapp.auth import tokens_required
from webapp.fields import FIELD_NAMES

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():
    return render_template("index.html", fields=FIELD_NAMES, token_required=tokens_required())
