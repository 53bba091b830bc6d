-- Raw SQL cannot forge who acted or erase history (SPEC §5, §8).
--
-- The service's role is the role that ran the migrations: the service applies
-- them itself at start-up (or `useradmin migrate`, with the same DATABASE_URL),
-- so that role owns every table and every function here. The triggers take the
-- actor from `useradmin.actor`, and the trail may be purged or erased, only in
-- a session that logged in as that role. Every other role (Adminer's, an
-- operator's psql) is recorded as `sql:<role>` whatever it sets, and its
-- `useradmin.audit_maintenance` is ignored.
--
-- session_user, not current_user, names the role: `SET ROLE` changes
-- current_user to any role the login role is a member of, and inside a
-- SECURITY DEFINER function current_user is the function's owner; session_user
-- changes only with SET SESSION AUTHORIZATION, which only a superuser may run.
-- A superuser can switch triggers off (or run as any role) and so is beyond any
-- rule a trigger makes: docs/DEPLOYMENT.md says so.
--
-- The functions that decide who acted, or write or remove events, run with a
-- fixed search_path (this schema, then pg_temp last): otherwise a session could
-- put a temporary table named audit_events (pg_temp is searched first unless
-- named) in front of the real one and its changes would be recorded nowhere.

-- The service's role, whoever calls: SECURITY DEFINER makes current_user this
-- function's owner, the role that ran the migrations. No catalog lookup and no
-- name to resolve (the operator is named with its schema), so no search_path
-- trick can answer for it, and no SET clause is needed (one costs about 2 µs a
-- call, and these run for every audited row); only the owner or a superuser
-- can give the function another owner.
create function useradmin_service_role() returns name
    language sql stable security definer
as $$ select current_user $$;

-- Whether this session logged in as the service's role (current_user is the
-- owner here too, for the same reason).
create function useradmin_service_session() returns boolean
    language sql stable security definer
as $$ select session_user operator(pg_catalog.=) current_user $$;

-- Who acts: the service's context only in the service's own sessions.
create or replace function audit_actor() returns jsonb language plpgsql stable as $$
declare
    told text := coalesce(current_setting('useradmin.actor', true), '');
begin
    if told = '' or not useradmin_service_session() then
        return jsonb_build_object('kind', 'sql', 'id', null, 'label', session_user, 'via', 'sql');
    end if;
    return told::jsonb;
end $$;

-- Events are written as the service's role (SECURITY DEFINER), so a raw-SQL
-- role needs no INSERT on audit_events for its changes to be recorded, and is
-- given none (deploy/sql/operator-role.sql).
alter function audit_record(text, text, bigint, text, jsonb) security definer;
alter function audit_users_created() security definer;

-- Only the service's role writes events directly (the service's own events
-- and, through the SECURITY DEFINER functions above, every trigger's): a role
-- granted INSERT on the table by mistake still cannot write one that names
-- somebody else. current_user here, not session_user: inside audit_record it
-- is the service's role whoever logged in.
create function audit_events_insert_guard() returns trigger language plpgsql as $$
begin
    if current_user operator(pg_catalog.<>) useradmin_service_role() then
        raise exception 'audit_events is written by the service''s triggers only: % may not insert', current_user
            using errcode = 'insufficient_privilege';
    end if;
    return null;
end $$;

create trigger audit_events_insert_guard before insert on audit_events
    for each statement execute function audit_events_insert_guard();

-- Append-only, as before; the maintenance setting counts only in the
-- service's own sessions.
create or replace function audit_events_guard() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.audit_maintenance', true), '') = 'on'
       and useradmin_service_session() then
        return case when tg_op = 'DELETE' then old else new end;
    end if;
    raise exception 'audit_events is append-only: % is not allowed', lower(tg_op)
        using errcode = 'insufficient_privilege';
end $$;

-- The retention purge (0006), for the service's role only.
create or replace function audit_purge(before timestamptz) returns bigint language plpgsql as $$
declare
    purged bigint;
begin
    if not useradmin_service_session() then
        raise exception 'only the service''s role (%) may purge the audit trail, not %',
            useradmin_service_role(), session_user
            using errcode = 'insufficient_privilege';
    end if;
    perform set_config('useradmin.audit_maintenance', 'on', true);
    delete from audit_events where at < before;
    get diagnostics purged = row_count;
    perform set_config('useradmin.audit_maintenance', '', true);
    return purged;
end $$;

-- Erasure (0007), for the service's role only.
create or replace function user_purge(user_id bigint) returns boolean language plpgsql as $$
declare
    purged bigint;
begin
    if not useradmin_service_session() then
        raise exception 'only the service''s role (%) may erase a user, not %',
            useradmin_service_role(), session_user
            using errcode = 'insufficient_privilege';
    end if;
    perform set_config('useradmin.audit_maintenance', 'on', true);
    update audit_events
    set subject_label = 'erased',
        changes = (
            select coalesce(jsonb_object_agg(key,
                case when key in ('name', 'email') and jsonb_typeof(value) = 'array'
                     then (select jsonb_agg(case when v = 'null'::jsonb then v else '"erased"'::jsonb end)
                           from jsonb_array_elements(value) as v)
                     else value end), '{}')
            from jsonb_each(changes))
    where subject_type = 'user' and subject_id = user_id;
    update audit_events set actor_label = 'erased'
    where actor_kind = 'admin' and actor_id = user_id;
    perform set_config('useradmin.audit_maintenance', '', true);
    delete from users where id = user_id;
    get diagnostics purged = row_count;
    return purged > 0;
end $$;

-- Changes whose actor is not accepted are changes made beside the service:
-- they notify, as changes without an actor always did (0005, 0011), so a
-- session that sets `useradmin.actor` without being the service cannot keep
-- the instances from seeing its change.
create or replace function notify_change() returns trigger language plpgsql as $$
begin
    -- Identical notifications within one transaction are folded into one.
    if coalesce(current_setting('useradmin.actor', true), '') = ''
       or not useradmin_service_session() then
        perform pg_notify('useradmin_changes', tg_table_name);
    end if;
    return null;
end $$;

create or replace function webhooks_enqueue() returns trigger language plpgsql as $$
begin
    insert into webhook_deliveries (webhook_id, event_type, occurred_at, payload)
    select w.id, a.action, a.at,
           jsonb_build_object(
               a.subject_type,
               case a.subject_type
                   when 'user' then coalesce(
                       (select to_jsonb(u) - 'password_hash' - 'session_epoch'
                        from users u where u.id = a.subject_id),
                       jsonb_build_object('id', a.subject_id))
                   else coalesce(
                       (select to_jsonb(t) - 'token_hash' from api_tokens t where t.id = a.subject_id),
                       jsonb_build_object('id', a.subject_id))
               end,
               'changes', a.changes)
    from added a
    join webhooks w
      on w.active
     and (a.action = any (w.events) or split_part(a.action, '.', 1) || '.*' = any (w.events))
    where a.subject_type in ('user', 'token')
    order by a.id, w.id;
    -- The service wakes its own dispatcher after its commits; NOTIFY is only
    -- for changes made without it (raw SQL), since it takes a database-wide
    -- lock at commit that makes concurrent writers commit one at a time.
    if found and (coalesce(current_setting('useradmin.actor', true), '') = ''
                  or not useradmin_service_session()) then
        perform pg_notify('useradmin_webhooks', '');
    end if;
    return null;
end $$;

-- The fixed search_path (see the top). Left alone: audit_field, which names
-- only built-ins (pg_catalog is searched first anyway) and which a SET clause
-- would stop PostgreSQL inlining into every audited row; and audit_actor,
-- called only from audit_record and audit_users_created, whose path it runs
-- under.
do $$
declare
    f text;
begin
    foreach f in array array[
        'audit_record(text, text, bigint, text, jsonb)',
        'audit_users_created()',
        'audit_users()',
        'audit_api_tokens()',
        'audit_webhooks()',
        'audit_events_guard()',
        'audit_events_insert_guard()',
        'audit_purge(timestamptz)',
        'user_purge(bigint)'
    ] loop
        execute format('alter function %s set search_path = %I, pg_temp', f, current_schema());
    end loop;
end $$;
