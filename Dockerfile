# One image for migrate, web, worker and beat (docker-compose.yml picks the command and gives each
# its database address). The image itself never migrates: no entrypoint, and the default command
# serves as the app role only (DATABASE_APP_URL).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# weasyprint needs Pango and HarfBuzz's subsetter (a locked month's PDF stays the same bytes); fonts for the PDFs.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The runtime lock only: no test tool in a production image (requirements-dev.lock is for make test).
COPY requirements.lock ./
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache -r requirements.lock
COPY . .
# collectstatic connects to nothing; with a database and Redis named the settings never look for embedded ones.
# A throwaway key, random per build (production settings refuse a short or example key).
RUN DHO_DEBUG=0 SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" DATABASE_APP_URL=postgres://build@localhost/none REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --no-input

RUN useradd --system --uid 10001 dho
USER dho
EXPOSE 8000
CMD ["gunicorn", "-c", "dho/gunicorn_conf.py", "dho.wsgi:application"]
