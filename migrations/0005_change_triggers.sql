-- Every change to users and tokens is seen the same way, whoever made it: the
-- service, the command line, or raw SQL in Adminer (SPEC §6).
--
-- * `version` and `updated_at` are kept by the database, so an UPDATE typed by
--   hand moves the ETag on and a client's stale If-Match gets 412.
-- * Taking admin rights away, or changing a password, moves the session epoch on
--   (ending the account's sessions); taking admin rights away also revokes the
--   account's tokens, so promoting it again gives nothing back.
-- * Every statement that changes users or tokens without the service's context
--   (`useradmin.actor`, set in the service's own write transactions) notifies
--   `useradmin_changes`; each instance LISTENs and, on a notification, moves
--   the list-cache generation on and forgets the token checks it trusted. The
--   service moves the generation on itself after its own commits.
--
-- The row triggers are the place where the audit trail (SPEC §8) will hang.

create function users_before_update() returns trigger language plpgsql as $$
begin
    new.version := old.version + 1;
    new.updated_at := now();
    if (old.is_admin and not new.is_admin)
       or new.password_hash is distinct from old.password_hash then
        new.session_epoch := old.session_epoch + 1;
    end if;
    return new;
end $$;

create trigger users_before_update before update on users
    for each row execute function users_before_update();

create function users_after_update() returns trigger language plpgsql as $$
begin
    if old.is_admin and not new.is_admin then
        update api_tokens set revoked_at = now()
        where created_by = new.id and revoked_at is null;
    end if;
    return null;
end $$;

create trigger users_after_update after update on users
    for each row execute function users_after_update();

create function notify_change() returns trigger language plpgsql as $$
begin
    -- Identical notifications within one transaction are folded into one.
    if coalesce(current_setting('useradmin.actor', true), '') = '' then
        perform pg_notify('useradmin_changes', tg_table_name);
    end if;
    return null;
end $$;

create trigger users_notify after insert or update or delete or truncate on users
    for each statement execute function notify_change();

create trigger api_tokens_notify_write after insert or delete or truncate on api_tokens
    for each statement execute function notify_change();

-- A token's use is recorded at most once a minute (`last_used_at`); that alone
-- changes nothing anyone trusts, so it does not notify.
create trigger api_tokens_notify_update
    after update of label, token_hash, created_by, revoked_at on api_tokens
    for each statement execute function notify_change();

-- Values generated once per database and shared by every instance: the
-- deployment's identity (a session record made by another deployment is refused)
-- and the key that signs the login form's CSRF cookie when SECRET_KEY is unset.
create table service_secrets (
    name       text        primary key,
    value      bytea       not null,
    created_at timestamptz not null default now()
);
