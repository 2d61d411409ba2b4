"""The search page for people. It calls the same JSON API as every other client."""

from flask import Blueprint, current_app, render_template

from webapp.schemas import EMBEDDING_FIELDS

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():
    return render_template(
        "index.html", fields=EMBEDDING_FIELDS, token_required=current_app.extensions["api_tokens_required"]
    )
