-- SPEC §14 Tokens: what a token may do and until when.
--
-- * `scopes`: the permissions the token may use (it acts with their
--   intersection with its owner's current permissions). The service stores the
--   explicit list at creation (all of the creator's permissions when none were
--   asked for); null, as in tokens made before this migration, means every
--   permission its owner holds.
-- * `expires_at`: after it, the token answers 401 like an unknown one; null
--   never expires.
alter table api_tokens
    add column scopes text[],
    add column expires_at timestamptz;

-- A change of either by raw SQL must reach every instance's token cache, like
-- a change of the other columns a check trusts.
drop trigger api_tokens_notify_update on api_tokens;
create trigger api_tokens_notify_update
    after update of label, token_hash, created_by, revoked_at, scopes, expires_at on api_tokens
    for each statement execute function notify_change();

-- The audit trail records both: what a token may do, and for how long, is what
-- an auditor asks of a token (at creation, and if raw SQL changes them).
-- audit_api_tokens as 0006 made it, plus scopes and expires_at.
create or replace function audit_api_tokens() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
begin
    if tg_op = 'INSERT' then
        changes := audit_field(changes, 'label', null, to_jsonb(new.label));
        changes := audit_field(changes, 'owner', null, to_jsonb(new.created_by));
        changes := audit_field(changes, 'scopes', null, to_jsonb(new.scopes));
        changes := audit_field(changes, 'expires_at', null, to_jsonb(new.expires_at));
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
    changes := audit_field(changes, 'scopes', to_jsonb(old.scopes), to_jsonb(new.scopes));
    changes := audit_field(changes, 'expires_at', to_jsonb(old.expires_at), to_jsonb(new.expires_at));
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

-- CREATE OR REPLACE drops the SET clause 0012 gave it.
do $$
begin
    execute format('alter function audit_api_tokens() set search_path = %I, pg_temp', current_schema());
end $$;
