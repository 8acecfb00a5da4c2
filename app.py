"""The edge: settings from the environment, then the service. Run: python app.py"""

from __future__ import annotations

from jobservice.main import run
from jobservice.settings import Settings

if __name__ == "__main__":
    run(Settings.from_env())
