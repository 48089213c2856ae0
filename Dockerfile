# One image for the three services; the command picks one: services.customers, services.catalog
# or services.orders. Configuration comes only from environment variables (see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements-service.txt pyproject.toml ./
COPY protos ./protos
COPY services ./services
RUN pip install --no-cache-dir -r requirements-service.txt \
 && pip install --no-cache-dir --no-deps ./protos . \
 && useradd --system --uid 10001 --no-create-home recordstore

USER recordstore
EXPOSE 50051 50052 50053
ENTRYPOINT ["python", "-m"]
CMD ["services.catalog"]
