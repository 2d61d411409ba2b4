"""The search page for people. It calls the same JSON API as every other client; the page itself
holds no data but the filters' choices (webapp/static/search.js renders every result)."""

from flask import Blueprint, render_template

from webapp import current_service
from webapp.auth import public, request_identity, tokens_required
from webapp.fields import FIELDS, SENTIMENT_LABELS
from webapp.schemas import PAGE_WINDOW

bp = Blueprint("ui", __name__)

# Each search field (webapp/fields.py) in people's words: a short name, and one sentence on what
# it compares (docs/search.md has the models and the measured quality behind them).
FIELD_WORDS = {
    "embedding384d": ("Fast", "Fast: a small general-purpose language model compares meanings."),
    "embedding768d": ("More accurate", "More accurate: a larger general-purpose language model, a little slower."),
    "embedding1155d": (
        "Meaning and tone",
        "Meaning and tone: both models together, plus how alike the financial tone (positive, negative, "
        "neutral) is. The best of the three on our test queries.",
    ),
}


@bp.get("/")
@public
def index():
    identity = request_identity()
    signed_in = identity.kind == "person"
    return render_template(
        "index.html",
        fields=[(field.name, field.dims, *FIELD_WORDS[field.name]) for field in FIELDS],
        sentiments=SENTIMENT_LABELS,
        filter_values=current_service().filter_values(),
        page_window=PAGE_WINDOW,
        signed_in_as=(identity.display or "you") if signed_in else None,
        # A person the load balancer signed in searches with that sign-in: never ask them for a token.
        token_required=tokens_required() and not signed_in,
    )
