# One image for every microcred process; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MICROCRED_ENV=production
COPY pyproject.toml constraints.txt ./
COPY services ./services
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --uid 10001 microcred
USER microcred
EXPOSE 8000
CMD ["python", "-m", "services.ops.serve", "services.verifier.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
