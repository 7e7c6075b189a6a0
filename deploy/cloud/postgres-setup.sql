-- hallops city/province tier: the role and the database `hallops cloud consume` and `hallops cloud serve` use.
-- Run once as the superuser:  sudo -u postgres psql -v pw="'<secret>'" -f postgres-setup.sql
-- The consumer creates its own tables on start (idempotent); nothing else is needed here.
CREATE ROLE hallops LOGIN PASSWORD :pw;
CREATE DATABASE hallops OWNER hallops ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE hallops FROM PUBLIC;
-- pg_hba.conf (the consumers' and the fleet view's hosts only, TLS):
--   hostssl  hallops  hallops  10.0.0.0/24  scram-sha-256

-- The fleet view reads only: a role of its own (docs/fleet.md), so the web page never holds the consumers' writing
-- credentials. Run after the first consumer has made the tables:
--   sudo -u postgres psql -d hallops -v pw="'<secret>'" -c "CREATE ROLE fleet_reader LOGIN PASSWORD :pw" \
--     -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO fleet_reader" \
--     -c "ALTER DEFAULT PRIVILEGES FOR ROLE hallops IN SCHEMA public GRANT SELECT ON TABLES TO fleet_reader"
--   pg_hba.conf:  hostssl  hallops  fleet_reader  10.0.0.0/24  scram-sha-256
