# One image for the three services; the command picks one: services.customers, services.catalog
# or services.orders. Configuration comes only from environment variables (docs/operations.md).
# docker-compose also builds the `credentials` stage, its one-shot init step.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements-service.txt pyproject.toml ./
COPY protos ./protos
COPY services ./services
RUN pip install --no-cache-dir -r requirements-service.txt \
 && pip install --no-cache-dir --no-deps ./protos . \
 && useradd --system --uid 10001 --no-create-home recordstore

# The init step (devstack/compose_init.py): the CA, the certificates, the token signing key and
# the database passwords, written into named volumes. Only the three modules it runs on, which
# need nothing beyond the services' own packages (cryptography, PyJWT); the services' image never
# carries the code that holds a CA key. It runs as root, once, to give each file to its reader.
FROM base AS credentials
COPY devstack/__init__.py devstack/credentials.py devstack/pki.py devstack/compose_init.py ./devstack/
ENTRYPOINT ["python", "-m", "devstack.compose_init"]

# The services (the default target).
FROM base AS services
USER recordstore
EXPOSE 50051 50052 50053
ENTRYPOINT ["python", "-m"]
CMD ["services.catalog"]
