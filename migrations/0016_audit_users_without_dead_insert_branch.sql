-- Since 0008 creates are audited per statement (audit_users_created, on the
-- users_audit_insert trigger) and users_audit fires only on update and delete,
-- so the INSERT branch that 0007 gave audit_users, and 0015 carried forward,
-- could never run. This is audit_users as 0015 left it, less that branch.

create or replace function audit_users() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
    action text;
begin
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

-- CREATE OR REPLACE drops the SET clause 0012 gave it.
do $$
begin
    execute format('alter function audit_users() set search_path = %I, pg_temp', current_schema());
end $$;
