-- Roles, groups and delegated administration (SPEC §14).
--
-- * `roles`: a name, a description and a set of permissions. `admin`,
--   `helpdesk` and `viewer` are built in: no statement, raw SQL included, may
--   change or delete them.
-- * `groups`: members (`group_members`) and roles (`group_roles`); groups do
--   not nest. A user's permissions are the union of its direct roles
--   (`user_roles`) and its groups' roles: `user_permissions(id)`.
-- * `users.is_admin` stays, kept by the database: true when the user holds the
--   `admin` role directly or through a group. Writing it (the API's PATCH, an
--   import, `create-admin`, raw SQL) grants or removes the *direct* `admin`
--   role; the column then shows what the user holds, so it stays true while a
--   group still grants the role. Today's admins hold the role directly.
-- * The last admin: at every commit at least one active user with a password
--   holds every permission. A deferred check (one per transaction, serialised
--   by an advisory lock, so two parallel removals cannot both pass) refuses
--   any commit that would leave none, with SQLSTATE UA409, whatever made the
--   change.
-- * A role granted to anyone cannot be deleted (the foreign keys restrict):
--   the service removes the grants first when asked to (`?force=true`).
-- * Every change is audited by triggers (`role.*`, `group.*`,
--   `user.roles_changed`), and raw SQL notifies the instances, so their
--   caches of permissions are dropped like their token caches.

-- Every permission, as the code's `Permission` enum names them (a test
-- compares the two).
create function useradmin_permissions() returns text[] language sql immutable as $$
    select array['audit.read', 'credentials.reset', 'groups.manage', 'roles.manage',
                 'scim.provision', 'tokens.manage', 'users.lifecycle', 'users.purge',
                 'users.read', 'users.write', 'webhooks.manage']
$$;

create table roles (
    id          bigint generated always as identity primary key,
    name        text        not null,
    description text        not null default '',
    permissions text[]      not null default '{}',
    builtin     boolean     not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint roles_name_length check (char_length(name) between 1 and 100),
    constraint roles_description_length check (char_length(description) <= 500),
    constraint roles_permissions_known check (permissions <@ useradmin_permissions())
);
create unique index roles_name_key on roles (lower(name));

insert into roles (name, description, permissions, builtin) values
    ('admin', 'Every permission.', useradmin_permissions(), true),
    ('helpdesk', 'Looks after users: creates and edits them, disables and deletes them, resets their passwords and two-factor login. Cannot purge, grant roles or manage groups.',
     array['audit.read', 'credentials.reset', 'tokens.manage', 'users.lifecycle', 'users.read', 'users.write'], true),
    ('viewer', 'Reads users and the audit trail.', array['audit.read', 'users.read'], true);

create function admin_role_id() returns bigint language sql stable as $$
    select id from roles where builtin and name = 'admin'
$$;

create table groups (
    id          bigint generated always as identity primary key,
    name        text        not null,
    description text        not null default '',
    external_id text,
    version     integer     not null default 1,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint groups_name_length check (char_length(name) between 1 and 100),
    constraint groups_description_length check (char_length(description) <= 500),
    constraint groups_external_id_length check (char_length(external_id) between 1 and 200)
);
create unique index groups_name_key on groups (lower(name));
create unique index groups_external_id_key on groups (external_id) where external_id is not null;

create table user_roles (
    user_id bigint not null references users (id) on delete cascade,
    role_id bigint not null references roles (id),
    primary key (user_id, role_id)
);
create index user_roles_role_idx on user_roles (role_id, user_id);

create table group_members (
    group_id bigint      not null references groups (id) on delete cascade,
    user_id  bigint      not null references users (id) on delete cascade,
    added_at timestamptz not null default now(),
    primary key (group_id, user_id)
);
create index group_members_user_idx on group_members (user_id, group_id);

create table group_roles (
    group_id bigint not null references groups (id) on delete cascade,
    role_id  bigint not null references roles (id),
    primary key (group_id, role_id)
);
create index group_roles_role_idx on group_roles (role_id, group_id);

-- Today's admins hold the admin role directly.
insert into user_roles (user_id, role_id)
select id, admin_role_id() from users where is_admin;

-- What a user holds -----------------------------------------------------------

-- The effective permissions: the union of the direct roles' and the groups'
-- roles', sorted.
create function user_permissions(uid bigint) returns text[] language sql stable as $$
    select coalesce(array_agg(distinct p order by p), '{}') from (
        select unnest(r.permissions) as p
        from user_roles ur join roles r on r.id = ur.role_id
        where ur.user_id = uid
        union all
        select unnest(r.permissions)
        from group_members gm
        join group_roles gr on gr.group_id = gm.group_id
        join roles r on r.id = gr.role_id
        where gm.user_id = uid
    ) held
$$;

-- The direct roles' names, in name order.
create function user_role_names(uid bigint) returns text[] language sql stable as $$
    select coalesce(array_agg(r.name order by lower(r.name)), '{}')
    from user_roles ur join roles r on r.id = ur.role_id
    where ur.user_id = uid
$$;

-- The groups, as `[{"id", "name"}]` in name order.
create function user_group_refs(uid bigint) returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name)
                              order by lower(g.name), g.id), '[]')
    from group_members gm join groups g on g.id = gm.group_id
    where gm.user_id = uid
$$;

create function holds_admin_role(uid bigint) returns boolean language sql stable as $$
    select exists (select 1 from user_roles
                   where user_id = uid and role_id = admin_role_id())
        or exists (select 1 from group_members gm
                   join group_roles gr on gr.group_id = gm.group_id
                   where gm.user_id = uid and gr.role_id = admin_role_id())
$$;

-- `users.is_admin`, kept by the database -------------------------------------

-- Sets `is_admin` to what these users hold. Its own updates are told apart
-- (`useradmin.refreshing_admin`) from a write of the flag, which grants or
-- removes the direct role.
create function refresh_is_admin(uids bigint[]) returns void language plpgsql as $$
begin
    perform set_config('useradmin.refreshing_admin', 'on', true);
    update users set is_admin = holds_admin_role(id)
    where id = any(uids) and is_admin is distinct from holds_admin_role(id);
    perform set_config('useradmin.refreshing_admin', '', true);
end $$;

-- Named to fire before users_before_update (triggers fire in name order), so
-- the session epoch and token revocation see the flag's final value.
create function users_admin_flag() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.refreshing_admin', true), '') = 'on'
       or new.is_admin is not distinct from old.is_admin then
        return new;
    end if;
    perform set_config('useradmin.refreshing_admin', 'on', true);
    if new.is_admin then
        insert into user_roles (user_id, role_id) values (new.id, admin_role_id())
        on conflict do nothing;
    else
        delete from user_roles where user_id = new.id and role_id = admin_role_id();
        new.is_admin := holds_admin_role(new.id);
    end if;
    perform set_config('useradmin.refreshing_admin', '', true);
    return new;
end $$;

create trigger users_admin_flag before update of is_admin on users
    for each row execute function users_admin_flag();

-- A user created as an admin holds the role directly. Its user.created event
-- says so already: no user.roles_changed for it.
create function users_admin_role_on_create() returns trigger language plpgsql as $$
begin
    perform set_config('useradmin.refreshing_admin', 'on', true);
    perform set_config('useradmin.initial_roles', 'on', true);
    insert into user_roles (user_id, role_id)
    select id, admin_role_id() from created where is_admin;
    perform set_config('useradmin.initial_roles', '', true);
    perform set_config('useradmin.refreshing_admin', '', true);
    return null;
end $$;

create trigger users_admin_role_on_create after insert on users
    referencing new table as created
    for each statement execute function users_admin_role_on_create();

-- Grants and memberships that touch the admin role move the flag.
create function user_roles_refresh_admin() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.refreshing_admin', true), '') <> 'on' then
        if tg_op = 'INSERT' then
            perform refresh_is_admin(array(select distinct user_id from changed where role_id = admin_role_id()));
        else
            perform refresh_is_admin(array(select distinct user_id from gone where role_id = admin_role_id()));
        end if;
    end if;
    return null;
end $$;

create trigger user_roles_refresh_admin_insert after insert on user_roles
    referencing new table as changed
    for each statement execute function user_roles_refresh_admin();
create trigger user_roles_refresh_admin_delete after delete on user_roles
    referencing old table as gone
    for each statement execute function user_roles_refresh_admin();

create function group_members_refresh_admin() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform refresh_is_admin(array(
            select distinct c.user_id from changed c
            join group_roles gr on gr.group_id = c.group_id and gr.role_id = admin_role_id()));
    else
        -- The group's roles may be gone with it: look at every user that left.
        perform refresh_is_admin(array(select distinct user_id from gone));
    end if;
    return null;
end $$;

create trigger group_members_refresh_admin_insert after insert on group_members
    referencing new table as changed
    for each statement execute function group_members_refresh_admin();
create trigger group_members_refresh_admin_delete after delete on group_members
    referencing old table as gone
    for each statement execute function group_members_refresh_admin();

create function group_roles_refresh_admin() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform refresh_is_admin(array(
            select distinct gm.user_id from changed c
            join group_members gm on gm.group_id = c.group_id
            where c.role_id = admin_role_id()));
    else
        perform refresh_is_admin(array(
            select distinct gm.user_id from gone g
            join group_members gm on gm.group_id = g.group_id
            where g.role_id = admin_role_id()));
    end if;
    return null;
end $$;

create trigger group_roles_refresh_admin_insert after insert on group_roles
    referencing new table as changed
    for each statement execute function group_roles_refresh_admin();
create trigger group_roles_refresh_admin_delete after delete on group_roles
    referencing old table as gone
    for each statement execute function group_roles_refresh_admin();

-- Built-in roles, versions and times -------------------------------------------

create function roles_before_write() returns trigger language plpgsql as $$
begin
    if old.builtin then
        raise exception 'the built-in role % cannot be changed or deleted', old.name
            using errcode = 'UA403';
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    new.builtin := false;
    new.updated_at := now();
    return new;
end $$;

create trigger roles_before_write before update or delete on roles
    for each row execute function roles_before_write();

create function roles_before_insert() returns trigger language plpgsql as $$
begin
    -- Only this migration makes built-in roles.
    new.builtin := false;
    return new;
end $$;

create trigger roles_before_insert before insert on roles
    for each row execute function roles_before_insert();

create function groups_before_update() returns trigger language plpgsql as $$
begin
    new.version := old.version + 1;
    new.updated_at := now();
    return new;
end $$;

create trigger groups_before_update before update on groups
    for each row execute function groups_before_update();

-- A group's members and roles are part of it: their changes move its version
-- (its ETag) on.
create function groups_touch() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        update groups set updated_at = now() where id in (select group_id from changed);
    else
        update groups set updated_at = now() where id in (select group_id from gone);
    end if;
    return null;
end $$;

create trigger group_members_touch_insert after insert on group_members
    referencing new table as changed
    for each statement execute function groups_touch();
create trigger group_members_touch_delete after delete on group_members
    referencing old table as gone
    for each statement execute function groups_touch();
create trigger group_roles_touch_insert after insert on group_roles
    referencing new table as changed
    for each statement execute function groups_touch();
create trigger group_roles_touch_delete after delete on group_roles
    referencing old table as gone
    for each statement execute function groups_touch();

-- The last admin ----------------------------------------------------------------

-- Whether an active user with a password holds every permission. Holders of
-- the admin role are found through the partial index on is_admin; only
-- without one are the roles added up.
create function full_admin_exists() returns boolean language sql stable as $$
    select exists (
        select 1 from users
        where is_admin and status = 'active' and deleted_at is null and password_hash is not null
    ) or exists (
        select 1 from (
            select ur.user_id, unnest(r.permissions) as p
            from user_roles ur join roles r on r.id = ur.role_id
            union
            select gm.user_id, unnest(r.permissions)
            from group_members gm
            join group_roles gr on gr.group_id = gm.group_id
            join roles r on r.id = gr.role_id
        ) held
        join users u on u.id = held.user_id
        where u.status = 'active' and u.deleted_at is null and u.password_hash is not null
        group by held.user_id
        having count(*) = cardinality(useradmin_permissions())
    )
$$;

-- Runs at commit, once per transaction that took something away. The lock
-- makes parallel commits check one after the other, each seeing the others'
-- committed changes (a new snapshot per statement, read committed).
create function last_admin_check() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.last_admin_checked', true), '') = 'on' then
        return null;
    end if;
    perform pg_advisory_xact_lock(hashtext('useradmin.last_admin'));
    if not full_admin_exists() then
        raise exception 'no active user with a password would hold every permission'
            using errcode = 'UA409',
                  hint = 'the last admin cannot be deleted, disabled or demoted';
    end if;
    perform set_config('useradmin.last_admin_checked', 'on', true);
    return null;
end $$;

create constraint trigger users_last_admin after update on users
    deferrable initially deferred for each row
    when (old.is_admin is distinct from new.is_admin
          or old.status is distinct from new.status
          or old.deleted_at is distinct from new.deleted_at
          or old.password_hash is distinct from new.password_hash)
    execute function last_admin_check();
create constraint trigger users_last_admin_purge after delete on users
    deferrable initially deferred for each row
    execute function last_admin_check();
create constraint trigger user_roles_last_admin after delete on user_roles
    deferrable initially deferred for each row
    execute function last_admin_check();
create constraint trigger group_members_last_admin after delete on group_members
    deferrable initially deferred for each row
    execute function last_admin_check();
create constraint trigger group_roles_last_admin after delete on group_roles
    deferrable initially deferred for each row
    execute function last_admin_check();
create constraint trigger roles_last_admin after update or delete on roles
    deferrable initially deferred for each row
    execute function last_admin_check();

-- Raw SQL reaches every instance ------------------------------------------------

create trigger roles_notify after insert or update or delete or truncate on roles
    for each statement execute function notify_change();
create trigger groups_notify after insert or update or delete or truncate on groups
    for each statement execute function notify_change();
create trigger user_roles_notify after insert or update or delete or truncate on user_roles
    for each statement execute function notify_change();
create trigger group_members_notify after insert or update or delete or truncate on group_members
    for each statement execute function notify_change();
create trigger group_roles_notify after insert or update or delete or truncate on group_roles
    for each statement execute function notify_change();

-- Audit -------------------------------------------------------------------------

create function audit_roles() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
begin
    if tg_op = 'INSERT' then
        changes := audit_field(changes, 'name', null, to_jsonb(new.name));
        changes := audit_field(changes, 'description', null, to_jsonb(new.description));
        changes := audit_field(changes, 'permissions', null, to_jsonb(new.permissions));
        perform audit_record('role.created', 'role', new.id, new.name, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        changes := audit_field(changes, 'name', to_jsonb(old.name), null);
        changes := audit_field(changes, 'permissions', to_jsonb(old.permissions), null);
        perform audit_record('role.deleted', 'role', old.id, old.name, changes);
        return null;
    end if;
    changes := audit_field(changes, 'name', to_jsonb(old.name), to_jsonb(new.name));
    changes := audit_field(changes, 'description', to_jsonb(old.description), to_jsonb(new.description));
    changes := audit_field(changes, 'permissions', to_jsonb(old.permissions), to_jsonb(new.permissions));
    if changes <> '{}' then
        perform audit_record('role.updated', 'role', new.id, new.name, changes);
    end if;
    return null;
end $$;

create trigger roles_audit after insert or update or delete on roles
    for each row execute function audit_roles();

create function audit_groups() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
begin
    if tg_op = 'INSERT' then
        changes := audit_field(changes, 'name', null, to_jsonb(new.name));
        changes := audit_field(changes, 'description', null, to_jsonb(new.description));
        changes := audit_field(changes, 'external_id', null, to_jsonb(new.external_id));
        perform audit_record('group.created', 'group', new.id, new.name, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        changes := audit_field(changes, 'name', to_jsonb(old.name), null);
        perform audit_record('group.deleted', 'group', old.id, old.name, changes);
        return null;
    end if;
    -- A member or role change moves only the version: those are audited as
    -- themselves.
    changes := audit_field(changes, 'name', to_jsonb(old.name), to_jsonb(new.name));
    changes := audit_field(changes, 'description', to_jsonb(old.description), to_jsonb(new.description));
    changes := audit_field(changes, 'external_id', to_jsonb(old.external_id), to_jsonb(new.external_id));
    if changes <> '{}' then
        perform audit_record('group.updated', 'group', new.id, new.name, changes);
    end if;
    return null;
end $$;

create trigger groups_audit after insert or update or delete on groups
    for each row execute function audit_groups();

-- One event per member, naming the user; none for the members of a group
-- deleted (group.deleted says it) or of a user purged (user.purged says it).
create function audit_group_members() returns trigger language plpgsql as $$
declare
    group_name text;
    user_email text;
begin
    if tg_op = 'INSERT' then
        select name into group_name from groups where id = new.group_id;
        select email into user_email from users where id = new.user_id;
        perform audit_record('group.member_added', 'group', new.group_id, group_name,
            jsonb_build_object('member', jsonb_build_array(null,
                jsonb_build_object('id', new.user_id, 'email', user_email))));
        return null;
    end if;
    select name into group_name from groups where id = old.group_id;
    select email into user_email from users where id = old.user_id;
    if group_name is null or user_email is null then
        return null;
    end if;
    perform audit_record('group.member_removed', 'group', old.group_id, group_name,
        jsonb_build_object('member', jsonb_build_array(
            jsonb_build_object('id', old.user_id, 'email', user_email), null)));
    return null;
end $$;

create trigger group_members_audit after insert or delete on group_members
    for each row execute function audit_group_members();

-- A group's roles, old → new, once per group and statement.
create function audit_group_roles_changed(gid bigint, before text[]) returns void language plpgsql as $$
declare
    group_name text;
    now_held text[];
begin
    select name into group_name from groups where id = gid;
    if group_name is null then
        return;
    end if;
    now_held := array(select r.name from group_roles gr join roles r on r.id = gr.role_id
                      where gr.group_id = gid order by lower(r.name));
    if before is not distinct from now_held then
        return;
    end if;
    perform audit_record('group.updated', 'group', gid, group_name,
        jsonb_build_object('roles', jsonb_build_array(to_jsonb(before), to_jsonb(now_held))));
end $$;

create function audit_group_roles_insert() returns trigger language plpgsql as $$
declare
    rec record;
begin
    for rec in select group_id, array_agg(role_id) as role_ids from changed group by group_id loop
        perform audit_group_roles_changed(rec.group_id, array(
            select r.name from group_roles gr join roles r on r.id = gr.role_id
            where gr.group_id = rec.group_id and gr.role_id <> all(rec.role_ids)
            order by lower(r.name)));
    end loop;
    return null;
end $$;

create function audit_group_roles_delete() returns trigger language plpgsql as $$
declare
    rec record;
begin
    for rec in select group_id, array_agg(role_id) as role_ids from gone group by group_id loop
        perform audit_group_roles_changed(rec.group_id, array(
            select r.name from roles r
            where r.id in (select role_id from group_roles where group_id = rec.group_id)
               or r.id = any(rec.role_ids)
            order by lower(r.name)));
    end loop;
    return null;
end $$;

create trigger group_roles_audit_insert after insert on group_roles
    referencing new table as changed
    for each statement execute function audit_group_roles_insert();
create trigger group_roles_audit_delete after delete on group_roles
    referencing old table as gone
    for each statement execute function audit_group_roles_delete();

create function audit_roles_changed(uid bigint, before text[]) returns void language plpgsql as $$
declare
    user_email text;
    now_held text[] := user_role_names(uid);
begin
    select email into user_email from users where id = uid;
    if user_email is null or before is not distinct from now_held then
        return;
    end if;
    perform audit_record('user.roles_changed', 'user', uid, user_email,
        jsonb_build_object('roles', jsonb_build_array(to_jsonb(before), to_jsonb(now_held))));
end $$;

create function audit_user_roles_insert() returns trigger language plpgsql as $$
declare
    rec record;
begin
    if coalesce(current_setting('useradmin.initial_roles', true), '') = 'on' then
        return null;
    end if;
    for rec in select user_id, array_agg(role_id) as role_ids from changed group by user_id loop
        perform audit_roles_changed(rec.user_id, array(
            select r.name from user_roles ur join roles r on r.id = ur.role_id
            where ur.user_id = rec.user_id and ur.role_id <> all(rec.role_ids)
            order by lower(r.name)));
    end loop;
    return null;
end $$;

create function audit_user_roles_delete() returns trigger language plpgsql as $$
declare
    rec record;
begin
    for rec in select user_id, array_agg(role_id) as role_ids from gone group by user_id loop
        perform audit_roles_changed(rec.user_id, array(
            select r.name from roles r
            where r.id in (select role_id from user_roles where user_id = rec.user_id)
               or r.id = any(rec.role_ids)
            order by lower(r.name)));
    end loop;
    return null;
end $$;

create trigger user_roles_audit_insert after insert on user_roles
    referencing new table as changed
    for each statement execute function audit_user_roles_insert();
create trigger user_roles_audit_delete after delete on user_roles
    referencing old table as gone
    for each statement execute function audit_user_roles_delete();

-- The audit functions write as the service's role, with a fixed search_path
-- (0012).
do $$
declare
    f text;
begin
    foreach f in array array['audit_roles()', 'audit_groups()', 'audit_group_members()',
                             'audit_user_roles_insert()', 'audit_user_roles_delete()',
                             'audit_roles_changed(bigint, text[])',
                             'audit_group_roles_insert()', 'audit_group_roles_delete()',
                             'audit_group_roles_changed(bigint, text[])'] loop
        execute format('alter function %s set search_path = %I, pg_temp', f, current_schema());
    end loop;
end $$;
