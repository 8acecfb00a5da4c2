# Sourced by scripts/serve and scripts/test, from the repo root: make .venv and install the
# project into it. The install is skipped while its stamp is newer than setup.cfg and
# pyproject.toml, so a second run starts at once. Delete .venv to start over.

# ensure_venv EXTRAS: EXTRAS is "" for the service alone, or e.g. "[test,dev]".
ensure_venv() {
    local extras=$1
    local python=${PYTHON:-python3}
    local stamp=.venv/.installed${extras:+-${extras//[^a-z,]/}}

    if [[ ! -x .venv/bin/python ]]; then
        if ! command -v "$python" >/dev/null 2>&1; then
            echo "error: '$python' not found; set PYTHON to a Python 3.11+ interpreter" >&2
            return 1
        fi
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "error: jobservice needs Python 3.11+, '$python' is $("$python" -V 2>&1)" >&2
            echo "       set PYTHON to a newer interpreter" >&2
            return 1
        fi
        echo "==> creating .venv with $("$python" -V 2>&1)" >&2
        if ! "$python" -m venv .venv; then
            # A half-made venv would pass the check above next time: remove it.
            rm -rf .venv
            echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi

    if [[ -f $stamp && $stamp -nt setup.cfg && $stamp -nt pyproject.toml ]]; then
        return 0
    fi
    echo "==> installing jobservice$extras into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
    # Installing with extras installs the service too, so both stamps are now current.
    touch "$stamp" .venv/.installed
}
