# One image for web, worker, beat and the sandbox.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv && useradd --create-home --uid 10001 linker
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN DJANGO_ENV=development LINKER_VAR_DIR=/tmp/build python manage.py collectstatic --noinput \
    && chown -R linker /app
USER linker
EXPOSE 8000
CMD ["gunicorn", "linker.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
