#!/usr/bin/env bash
# Start Debian's PostgreSQL 15 cluster and make sure the test role and database exist.
# Prints the SQLAlchemy URL for the tests.
set -euo pipefail
scripts/system-deps.sh >&2
pg_ctlcluster 15 main status >/dev/null 2>&1 || pg_ctlcluster 15 main start >&2
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='radar'\"" | grep -q 1 \
  || su postgres -c "psql -q -c \"CREATE ROLE radar LOGIN PASSWORD 'radar' SUPERUSER\"" >&2
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='radar_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O radar radar_test" >&2
echo "postgresql+psycopg://radar:radar@127.0.0.1:5432/radar_test"
