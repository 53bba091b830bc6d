-- The audit trail: every change to users and tokens, recorded by the
-- database itself in the transaction of the change, whoever made it. The
-- service says who acts with set_config('useradmin.actor', <json>, true); a
-- change without it (raw SQL in Adminer, psql) is recorded as sql:<role>.

create table audit_events (
    id            bigint generated always as identity primary key,
    at            timestamptz not null default now(),
    actor_kind    text        not null,
    actor_id      bigint,
    actor_label   text        not null,
    via           text        not null,
    request_id    text,
    client_ip     text,
    action        text        not null,
    subject_type  text        not null,
    subject_id    bigint,
    subject_label text        not null,
    changes       jsonb       not null default '{}',
    constraint audit_events_actor_kind check (actor_kind in ('admin', 'token', 'cli', 'sql', 'system')),
    constraint audit_events_via check (via in ('session', 'token', 'cli', 'import', 'scim', 'sql', 'system'))
);

-- Pages are read newest first by id; each filter has an index that keeps that
-- order, so a filtered page costs the same at a million events as at ten.
create index audit_events_subject_idx on audit_events (subject_type, subject_id, id);
create index audit_events_actor_idx on audit_events (actor_kind, actor_id, id);
create index audit_events_action_idx on audit_events (action text_pattern_ops, id);
create index audit_events_at_idx on audit_events (at, id);

-- Who acts in this transaction: the service's context, or the database role.
create function audit_actor() returns jsonb language plpgsql stable as $$
declare
    told text := coalesce(current_setting('useradmin.actor', true), '');
begin
    if told = '' then
        return jsonb_build_object('kind', 'sql', 'id', null, 'label', current_user, 'via', 'sql');
    end if;
    return told::jsonb;
end $$;

create function audit_record(
    action text, subject_type text, subject_id bigint, subject_label text, changes jsonb
) returns void language plpgsql as $$
declare
    actor jsonb := audit_actor();
begin
    insert into audit_events (actor_kind, actor_id, actor_label, via, request_id, client_ip,
                              action, subject_type, subject_id, subject_label, changes)
    values (actor->>'kind', (actor->>'id')::bigint, coalesce(actor->>'label', ''),
            coalesce(actor->>'via', 'sql'), actor->>'request_id', actor->>'client_ip',
            action, subject_type, subject_id, subject_label, changes);
end $$;

-- One field's change as [old, new], when it changed.
create function audit_field(changes jsonb, field text, old_value jsonb, new_value jsonb)
returns jsonb language sql immutable as $$
    select case when old_value is distinct from new_value
                then changes || jsonb_build_object(field, jsonb_build_array(old_value, new_value))
                else changes end
$$;

create function audit_users() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
    action text;
begin
    if tg_op = 'INSERT' then
        changes := audit_field(changes, 'name', null, to_jsonb(new.name));
        changes := audit_field(changes, 'email', null, to_jsonb(new.email));
        changes := audit_field(changes, 'is_admin', null, to_jsonb(new.is_admin));
        if new.password_hash is not null then
            changes := changes || '{"password": "changed"}';
        end if;
        perform audit_record('user.created', 'user', new.id, new.email, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        changes := audit_field(changes, 'name', to_jsonb(old.name), null);
        changes := audit_field(changes, 'email', to_jsonb(old.email), null);
        changes := audit_field(changes, 'is_admin', to_jsonb(old.is_admin), null);
        perform audit_record('user.deleted', 'user', old.id, old.email, changes);
        return null;
    end if;
    changes := audit_field(changes, 'name', to_jsonb(old.name), to_jsonb(new.name));
    changes := audit_field(changes, 'email', to_jsonb(old.email), to_jsonb(new.email));
    changes := audit_field(changes, 'is_admin', to_jsonb(old.is_admin), to_jsonb(new.is_admin));
    if new.password_hash is distinct from old.password_hash then
        -- Never a value or a hash: only that it changed.
        changes := changes || '{"password": "changed"}';
    end if;
    if changes = '{}' then
        -- Bookkeeping only (the session epoch): nothing anyone would call a change.
        return null;
    end if;
    action := case when changes = '{"password": "changed"}' then 'password.changed'
                   else 'user.updated' end;
    perform audit_record(action, 'user', new.id, new.email, changes);
    return null;
end $$;

create trigger users_audit after insert or update or delete on users
    for each row execute function audit_users();

create function audit_api_tokens() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
begin
    if tg_op = 'INSERT' then
        changes := audit_field(changes, 'label', null, to_jsonb(new.label));
        changes := audit_field(changes, 'owner', null, to_jsonb(new.created_by));
        perform audit_record('token.created', 'token', new.id, new.label, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        changes := audit_field(changes, 'label', to_jsonb(old.label), null);
        perform audit_record('token.deleted', 'token', old.id, old.label, changes);
        return null;
    end if;
    changes := audit_field(changes, 'label', to_jsonb(old.label), to_jsonb(new.label));
    changes := audit_field(changes, 'owner', to_jsonb(old.created_by), to_jsonb(new.created_by));
    changes := audit_field(changes, 'revoked_at', to_jsonb(old.revoked_at), to_jsonb(new.revoked_at));
    if new.token_hash is distinct from old.token_hash then
        changes := changes || '{"token": "changed"}';
    end if;
    if changes = '{}' then
        -- A recorded use (last_used_at) is not a change.
        return null;
    end if;
    perform audit_record(
        case when old.revoked_at is null and new.revoked_at is not null then 'token.revoked'
             else 'token.updated' end,
        'token', new.id, new.label, changes);
    return null;
end $$;

create trigger api_tokens_audit after insert or update or delete on api_tokens
    for each row execute function audit_api_tokens();

-- Append-only: the trail is evidence. Only the retention purge and erasure,
-- through the functions below, may remove or rewrite events.
create function audit_events_guard() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.audit_maintenance', true), '') = 'on' then
        return case when tg_op = 'DELETE' then old else new end;
    end if;
    raise exception 'audit_events is append-only: % is not allowed', lower(tg_op)
        using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_guard();

create function audit_events_no_truncate() returns trigger language plpgsql as $$
begin
    raise exception 'audit_events is append-only: truncate is not allowed'
        using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_no_truncate();

-- The retention purge: events older than `before` go. Returns how many.
create function audit_purge(before timestamptz) returns bigint language plpgsql as $$
declare
    purged bigint;
begin
    perform set_config('useradmin.audit_maintenance', 'on', true);
    delete from audit_events where at < before;
    get diagnostics purged = row_count;
    perform set_config('useradmin.audit_maintenance', '', true);
    return purged;
end $$;
