-- The raw-SQL operator's database role (Adminer's in docker compose): a login
-- of its own, so that what it changes is recorded as `sql:<role>` and it can
-- neither claim to be an admin nor remove audit events (migration 0012 makes
-- the triggers accept an actor, a purge or an erasure only from the service's
-- own role). Idempotent: run it again to change the password or to pick up
-- tables made since; tables the service makes later get the same privileges
-- by default.
--
-- Run it as the service's role (the role in DATABASE_URL, which owns the
-- tables; it needs CREATEROLE, or create the role beforehand as an admin):
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 \
--        -v operator_role=adminer -v operator_password="$PASSWORD" \
--        -f deploy/kubernetes/sql-operator-role.sql
--
-- docker compose runs it in the one-shot `sql-operator` service, the Kubernetes
-- manifests in the Job `useradmin-sql-operator` (docs/DEPLOYMENT.md).

\set ON_ERROR_STOP on

-- Never the service's own role, nor a member of it: a member could SET ROLE
-- to it and act as the service (or switch the triggers off as their owner).
-- (psql's \quit sets no exit code; a failing statement does, with
-- ON_ERROR_STOP.)
select format('do $refuse$ begin raise exception %L; end $refuse$',
              format('the operator role must not be the service''s own role (%s)', current_user))
where :'operator_role' = current_user \gexec

select format('create role %I login', :'operator_role')
where not exists (select from pg_roles where rolname = :'operator_role') \gexec

select format('do $refuse$ begin raise exception %L; end $refuse$',
              format('%s is a member of the service''s role %s: revoke that first', :'operator_role', current_user))
where pg_has_role(:'operator_role', current_user, 'member') \gexec

-- A plain login: no superuser, no role or database creation, no replication.
alter role :"operator_role" with login nosuperuser nocreatedb nocreaterole noreplication
    password :'operator_password';

select format('grant connect on database %I to %I', current_database(), :'operator_role') \gexec
select format('grant usage on schema %I to %I', current_schema(), :'operator_role') \gexec

-- What a raw-SQL operator needs on the service's data: read and change rows.
-- Not ownership, TRUNCATE, REFERENCES or TRIGGER (a trigger of its own could
-- swallow audit events).
select format('grant select, insert, update, delete on all tables in schema %I to %I',
              current_schema(), :'operator_role') \gexec
select format('grant usage, select on all sequences in schema %I to %I',
              current_schema(), :'operator_role') \gexec
select format('alter default privileges in schema %I grant select, insert, update, delete on tables to %I',
              current_schema(), :'operator_role') \gexec
select format('alter default privileges in schema %I grant usage, select on sequences to %I',
              current_schema(), :'operator_role') \gexec

-- The audit trail and the migrations' own table are read only (the trail's
-- triggers refuse other writes from this role anyway).
select format('revoke insert, update, delete, truncate, references, trigger on %I.%I from %I',
              current_schema(), t, :'operator_role')
from unnest(array['audit_events', '_sqlx_migrations']) as t
where to_regclass(format('%I.%I', current_schema(), t)) is not null \gexec

-- The service's own secrets (the login form's signing key, the deployment's
-- identity) are not data an operator edits or needs to read.
select format('revoke all on %I.service_secrets from %I', current_schema(), :'operator_role')
where to_regclass(format('%I.service_secrets', current_schema())) is not null \gexec

\echo 'sql-operator-role.sql: role' :"operator_role" 'is ready'
