# Vigil in a container: the same set-up as `make run` (the Makefile's venv from the pinned
# requirements), serving on 0.0.0.0:8000 with its data in the /data volume.
#   docker build -t vigil .
#   docker run -p 127.0.0.1:8000:8000 -v vigil-data:/data -e VIGIL_ADMIN_PASSWORD=... vigil
# Scale-out (VIGIL_REDIS_URL set): the same image runs the engine with
#   `flask --app wsgi engine` and each web process with the default command.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/vigil vigil \
    && mkdir -p /app /data && chown vigil:vigil /app /data

USER vigil
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY --chown=vigil:vigil requirements.txt Makefile ./
RUN make PYTHON=python3 .venv/.installed-runtime
COPY --chown=vigil:vigil . .

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VIGIL_DATA_DIR=/data \
    VIGIL_HOST=0.0.0.0 \
    VIGIL_PORT=8000
VOLUME ["/data"]
EXPOSE 8000
# SIGTERM (docker stop) is Vigil's graceful stop; give it the time gunicorn's takes.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["make", "run"]
