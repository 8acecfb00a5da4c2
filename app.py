"""The edge: settings from the environment, then the service. Run: python app.py"""

from __future__ import annotations

import sys

from jobservice.core.settings import settings_or_exit
from jobservice.http.server import serve

if __name__ == "__main__":
    sys.exit(serve(settings_or_exit()))
