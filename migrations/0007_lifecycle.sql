-- Account lifecycle: disable instead of delete, undo a delete, dormant admins.
--
-- * `status` active/disabled with its reason and time; a disabled admin cannot
--   log in, and disabling ends its sessions and revokes its tokens.
-- * Deleting is soft (`deleted_at`): the user leaves every list and its email is
--   free again; a purge removes the row for good and erases the user's name and
--   email from its audit events.
-- * `last_login_at` (dormant admins) and `external_id` (for provisioning).

alter table users
    add column status          text        not null default 'active',
    add column disabled_reason text,
    add column disabled_at     timestamptz,
    add column deleted_at      timestamptz,
    add column last_login_at   timestamptz,
    add column external_id     text,
    add constraint users_status_valid check (status in ('active', 'disabled')),
    add constraint users_disabled_reason_length check (char_length(disabled_reason) <= 500),
    add constraint users_external_id_length check (char_length(external_id) between 1 and 200);

-- An email is taken only by users that are not deleted.
drop index users_email_key;
create unique index users_email_key on users (lower(email)) where deleted_at is null;

-- Lists show users that are not deleted; every sort order keeps an index, with
-- and without a status filter, so a page costs the same at a million users.
drop index users_name_id_idx;
drop index users_email_id_idx;
drop index users_created_at_id_idx;
create index users_live_id_idx on users (id) where deleted_at is null;
create index users_name_id_idx on users (name, id) where deleted_at is null;
create index users_email_id_idx on users (email, id) where deleted_at is null;
create index users_created_at_id_idx on users (created_at, id) where deleted_at is null;
create index users_status_id_idx on users (status, id) where deleted_at is null;
create index users_status_name_id_idx on users (status, name, id) where deleted_at is null;
create index users_status_email_id_idx on users (status, email, id) where deleted_at is null;
create index users_status_created_at_id_idx on users (status, created_at, id) where deleted_at is null;
-- Deleted users, newest deletion first, for `GET /users/deleted` and the purge.
create index users_deleted_idx on users (deleted_at, id) where deleted_at is not null;
-- Dormant admins.
create index users_admin_last_login_idx on users (last_login_at, id) where is_admin and deleted_at is null;
create unique index users_external_id_key on users (external_id) where deleted_at is null and external_id is not null;

-- The kept count is of users that are not deleted.
create or replace function user_count_after_insert() returns trigger language plpgsql as $$
begin
    update user_count_shards
    set n = n + (select count(*) from inserted where deleted_at is null)
    where shard = pg_backend_pid() % 16;
    return null;
end $$;

create or replace function user_count_after_delete() returns trigger language plpgsql as $$
begin
    update user_count_shards
    set n = n - (select count(*) from deleted where deleted_at is null)
    where shard = pg_backend_pid() % 16;
    return null;
end $$;

create function user_count_after_update() returns trigger language plpgsql as $$
begin
    update user_count_shards
    set n = n + (select count(*) from after_rows where deleted_at is null)
              - (select count(*) from before_rows where deleted_at is null)
    where shard = pg_backend_pid() % 16;
    return null;
end $$;

create trigger users_count_update after update on users
    referencing old table as before_rows new table as after_rows
    for each statement execute function user_count_after_update();

-- Version, time and session epoch, as before; bookkeeping alone (a login's
-- time) changes none of them. Losing the right to log in (demotion, disabling,
-- deletion) or a new password ends the account's sessions.
create or replace function users_before_update() returns trigger language plpgsql as $$
declare
    without_bookkeeping users;
begin
    without_bookkeeping := new;
    without_bookkeeping.last_login_at := old.last_login_at;
    if new.last_login_at is distinct from old.last_login_at
       and without_bookkeeping is not distinct from old then
        return new;
    end if;
    new.version := old.version + 1;
    new.updated_at := now();
    if (old.is_admin and not new.is_admin)
       or (old.status = 'active' and new.status <> 'active')
       or (old.deleted_at is null and new.deleted_at is not null)
       or new.password_hash is distinct from old.password_hash then
        new.session_epoch := old.session_epoch + 1;
    end if;
    if new.status = 'active' then
        new.disabled_reason := null;
        new.disabled_at := null;
    elsif old.status = 'active' then
        new.disabled_at := now();
    end if;
    return new;
end $$;

-- Revoked, not suspended: promoting, enabling or restoring gives nothing back.
create or replace function users_after_update() returns trigger language plpgsql as $$
begin
    if (old.is_admin and not new.is_admin)
       or (old.status = 'active' and new.status <> 'active')
       or (old.deleted_at is null and new.deleted_at is not null) then
        update api_tokens set revoked_at = now()
        where created_by = new.id and revoked_at is null;
    end if;
    return null;
end $$;

-- The audit trail learns the lifecycle's actions.
create or replace function audit_users() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
    action text;
begin
    if tg_op = 'INSERT' then
        -- Creates are the hot path: one expression, no per-field calls.
        changes := jsonb_build_object(
            'name', jsonb_build_array(null, new.name),
            'email', jsonb_build_array(null, new.email),
            'is_admin', jsonb_build_array(null, new.is_admin),
            'status', jsonb_build_array(null, new.status));
        if new.external_id is not null then
            changes := changes || jsonb_build_object('external_id', jsonb_build_array(null, new.external_id));
        end if;
        if new.password_hash is not null then
            changes := changes || '{"password": "changed"}';
        end if;
        perform audit_record('user.created', 'user', new.id, new.email, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        -- A purge: the row goes for good.
        perform audit_record('user.purged', 'user', old.id, 'erased', '{}');
        return null;
    end if;
    changes := audit_field(changes, 'name', to_jsonb(old.name), to_jsonb(new.name));
    changes := audit_field(changes, 'email', to_jsonb(old.email), to_jsonb(new.email));
    changes := audit_field(changes, 'is_admin', to_jsonb(old.is_admin), to_jsonb(new.is_admin));
    changes := audit_field(changes, 'status', to_jsonb(old.status), to_jsonb(new.status));
    changes := audit_field(changes, 'disabled_reason', to_jsonb(old.disabled_reason), to_jsonb(new.disabled_reason));
    changes := audit_field(changes, 'deleted_at', to_jsonb(old.deleted_at), to_jsonb(new.deleted_at));
    changes := audit_field(changes, 'external_id', to_jsonb(old.external_id), to_jsonb(new.external_id));
    if new.password_hash is distinct from old.password_hash then
        changes := changes || '{"password": "changed"}';
    end if;
    if changes = '{}' then
        return null;
    end if;
    action := case
        when old.deleted_at is null and new.deleted_at is not null then 'user.deleted'
        when old.deleted_at is not null and new.deleted_at is null then 'user.restored'
        when old.status = 'active' and new.status = 'disabled' then 'user.disabled'
        when old.status = 'disabled' and new.status = 'active' then 'user.enabled'
        when changes = '{"password": "changed"}' then 'password.changed'
        else 'user.updated' end;
    perform audit_record(action, 'user', new.id, new.email, changes);
    return null;
end $$;

-- A time range is read through a block-range index: it costs a create almost
-- nothing to keep, and events arrive in time order.
drop index audit_events_at_idx;
create index audit_events_at_brin on audit_events using brin (at);

-- Erasure: the user's name and email leave its audit events, which stay (the
-- trail keeps that something happened, not to whom). Then the row goes.
create function user_purge(user_id bigint) returns boolean language plpgsql as $$
declare
    purged bigint;
begin
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
