-- What a SCIM client writes, it reads back (SPEC §12). The service keeps one
-- name and one email; an identity provider also writes `displayName`,
-- `name.givenName`, `name.familyName`, `name.formatted` and the email's `type`
-- and `display`, and compares what it reads back with what it sent. They are
-- kept here as sent (trimmed), each only when sent, with the name and email
-- they were sent with:
--   {"displayName", "formatted", "givenName", "familyName", "emailType",
--    "emailDisplay", "name", "email"}
-- The name itself stays in `name`, the email in `email`; only SCIM reads this.
--
-- The audit trail records changes of this column too (0015), under
-- `scim_profile`, without the name and email it repeats.

alter table users
    add column scim_profile jsonb,
    add constraint users_scim_profile_object
        check (scim_profile is null or (jsonb_typeof(scim_profile) = 'object'
                                        and pg_column_size(scim_profile) <= 8192));

-- A name changed anywhere but SCIM (the pages, /users, an import, raw SQL)
-- makes the stored presentations of the old name stale: they are dropped, so
-- SCIM shows the new name as `name.formatted` and `displayName`. Likewise an
-- email's `display` (which usually spells the address) when the email changes.
-- A SCIM write sets the column in the same statement, with the name and email
-- it is for, so it always differs from the old value and is left alone.
create function users_scim_profile_follows() returns trigger language plpgsql as $$
begin
    if new.scim_profile is null or new.scim_profile is distinct from old.scim_profile then
        return new;
    end if;
    if new.name is distinct from old.name then
        new.scim_profile := new.scim_profile
            - array['displayName', 'formatted', 'givenName', 'familyName', 'name'];
    end if;
    if lower(new.email) is distinct from lower(old.email) then
        new.scim_profile := new.scim_profile - array['emailDisplay', 'email'];
    end if;
    if new.scim_profile - array['name', 'email'] = '{}'::jsonb then
        new.scim_profile := null;
    end if;
    return new;
end $$;

create trigger users_scim_profile_follows before update of name, email on users
    for each row execute function users_scim_profile_follows();
