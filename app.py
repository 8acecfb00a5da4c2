"""The edge: settings from the environment, then the service. Run: python app.py"""

from __future__ import annotations

import sys

from jobservice.main import run
from jobservice.settings import settings_or_exit

if __name__ == "__main__":
    sys.exit(run(settings_or_exit()))
