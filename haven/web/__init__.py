"""Haven's web front end: the static pages under ``static/`` and the self-contained map export."""
