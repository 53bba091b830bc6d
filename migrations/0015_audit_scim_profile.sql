-- What an identity provider writes beside the name and email (0013's
-- scim_profile: displayName, the name's parts, the email's type and display)
-- is a change to the user like any other (SPEC §8): the audit trail records
-- it, as `scim_profile` [old, new] without the name and email those were
-- written with (the trail records those under their own keys), and so the
-- webhooks hear it. Erasure blanks it with the name and email: it spells them.

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
        if new.scim_profile - array['name', 'email'] <> '{}' then
            changes := changes || jsonb_build_object('scim_profile',
                jsonb_build_array(null, new.scim_profile - array['name', 'email']));
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
    if new.scim_profile is distinct from old.scim_profile then
        changes := audit_field(changes, 'scim_profile',
            nullif(coalesce(old.scim_profile, '{}') - array['name', 'email'], '{}'),
            nullif(coalesce(new.scim_profile, '{}') - array['name', 'email'], '{}'));
    end if;
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

-- Erasure (0007, 0012): the SCIM presentations go with the name and email.
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
                case when key in ('name', 'email', 'scim_profile') and jsonb_typeof(value) = 'array'
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

-- CREATE OR REPLACE drops the SET clauses 0012 gave them.
do $$
begin
    execute format('alter function audit_users() set search_path = %I, pg_temp', current_schema());
    execute format('alter function user_purge(bigint) set search_path = %I, pg_temp', current_schema());
end $$;
