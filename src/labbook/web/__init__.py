"""``lab ui``: the notebook in a browser, an adapter over the service and ``views/``.

``create_app(notebook, settings)`` builds the whole app in-process; the JSON API under
``/api`` hands out the shapes the CLI prints with ``--json``, and the pages render them.
"""

from labbook.web.app import create_app
from labbook.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
