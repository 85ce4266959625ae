"""Entry point for gunicorn: `gunicorn wsgi:app`. Production mode unless FUNDCIRCLE_ENV says otherwise."""

import os

os.environ.setdefault("FUNDCIRCLE_ENV", "production")

from fundcircle import create_app  # noqa: E402

app = create_app()
