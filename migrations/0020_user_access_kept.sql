-- What each user holds, kept in the users row (SPEC §14, Performance).
--
-- A user object carries its direct roles, its groups and its effective
-- permissions. Working them out on every read costs joins per user (a third
-- of get-by-id's speed); the columns `access_roles`, `access_groups` and
-- `access_permissions` keep them, so a read costs nothing more. They are part
-- of the user object: a change moves its version on, like any other field. Triggers keep it whoever changes a grant,
-- a membership, a group's roles, a role's permissions or a group's name (raw
-- SQL included). The recomputation takes the lock that serialises changes of
-- access (`useradmin.access`, as the write path takes it), so two
-- transactions changing one user's access cannot each write what they saw
-- alone: the second waits, then reads what the first committed.

alter table users
    add column access_roles text[] not null default '{}',
    add column access_groups jsonb not null default '[]',
    add column access_permissions text[] not null default '{}';

-- Sets is_admin and the access columns to what these users hold. Its own
-- updates are told apart (`useradmin.refreshing_admin`) from a write of the
-- flag; while the flag's trigger runs (it keeps its own row's columns), this
-- does nothing, since a trigger may not update the row being updated.
create function refresh_user_access(uids bigint[]) returns void language plpgsql as $$
begin
    if cardinality(uids) = 0
       or coalesce(current_setting('useradmin.refreshing_admin', true), '') = 'on' then
        return;
    end if;
    perform pg_advisory_xact_lock(hashtext('useradmin.access'));
    perform set_config('useradmin.refreshing_admin', 'on', true);
    update users set
        is_admin = holds_admin_role(id),
        access_roles = user_role_names(id),
        access_groups = user_group_refs(id),
        access_permissions = user_permissions(id)
    where id = any(uids)
      and (is_admin, access_roles, access_groups, access_permissions)
          is distinct from (holds_admin_role(id), user_role_names(id), user_group_refs(id),
                            user_permissions(id));
    perform set_config('useradmin.refreshing_admin', '', true);
end $$;

-- One refresh does both now.
create or replace function refresh_is_admin(uids bigint[]) returns void language plpgsql as $$
begin
    perform refresh_user_access(uids);
end $$;

-- Writing the flag: as 0018, and the row's access columns follow.
create or replace function users_admin_flag() returns trigger language plpgsql as $$
begin
    if coalesce(current_setting('useradmin.refreshing_admin', true), '') = 'on'
       or new.is_admin is not distinct from old.is_admin then
        return new;
    end if;
    perform pg_advisory_xact_lock(hashtext('useradmin.access'));
    perform set_config('useradmin.refreshing_admin', 'on', true);
    if new.is_admin then
        insert into user_roles (user_id, role_id) values (new.id, admin_role_id())
        on conflict do nothing;
    else
        delete from user_roles where user_id = new.id and role_id = admin_role_id();
        new.is_admin := holds_admin_role(new.id);
    end if;
    new.access_roles := user_role_names(new.id);
    new.access_groups := user_group_refs(new.id);
    new.access_permissions := user_permissions(new.id);
    perform set_config('useradmin.refreshing_admin', '', true);
    return new;
end $$;

-- A user created as an admin holds the admin role directly and nothing else.
create function users_access_on_create() returns trigger language plpgsql as $$
begin
    if new.is_admin then
        new.access_roles := array['admin'];
        new.access_groups := '[]';
        new.access_permissions := useradmin_permissions();
    else
        new.access_roles := '{}';
        new.access_groups := '[]';
        new.access_permissions := '{}';
    end if;
    return new;
end $$;

create trigger users_access_on_create before insert on users
    for each row execute function users_access_on_create();

-- Only where there is something to fill: a statement on users notifies the
-- running instances even when it changes no row.
do $$
begin
    if exists (select 1 from user_roles) or exists (select 1 from group_members) then
        update users set
            access_roles = user_role_names(id),
            access_groups = user_group_refs(id),
            access_permissions = user_permissions(id)
        where exists (select 1 from user_roles where user_id = users.id)
           or exists (select 1 from group_members where user_id = users.id);
    end if;
end $$;

create function user_roles_refresh_access() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform refresh_user_access(array(select distinct user_id from changed));
    else
        perform refresh_user_access(array(select distinct user_id from gone));
    end if;
    return null;
end $$;

create trigger user_roles_refresh_access_insert after insert on user_roles
    referencing new table as changed
    for each statement execute function user_roles_refresh_access();
create trigger user_roles_refresh_access_delete after delete on user_roles
    referencing old table as gone
    for each statement execute function user_roles_refresh_access();

-- Members joining or leaving (a group's deletion removes its members too).
create trigger group_members_refresh_access_insert after insert on group_members
    referencing new table as changed
    for each statement execute function user_roles_refresh_access();
create trigger group_members_refresh_access_delete after delete on group_members
    referencing old table as gone
    for each statement execute function user_roles_refresh_access();

-- A group's roles change what every member holds.
create function group_roles_refresh_access() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform refresh_user_access(array(
            select distinct gm.user_id from group_members gm
            where gm.group_id in (select group_id from changed)));
    else
        perform refresh_user_access(array(
            select distinct gm.user_id from group_members gm
            where gm.group_id in (select group_id from gone)));
    end if;
    return null;
end $$;

create trigger group_roles_refresh_access_insert after insert on group_roles
    referencing new table as changed
    for each statement execute function group_roles_refresh_access();
create trigger group_roles_refresh_access_delete after delete on group_roles
    referencing old table as gone
    for each statement execute function group_roles_refresh_access();

-- A role's name or permissions change what its holders hold.
create function roles_refresh_access() returns trigger language plpgsql as $$
begin
    if new.name is distinct from old.name or new.permissions is distinct from old.permissions then
        perform refresh_user_access(array(
            select user_id from user_roles where role_id = new.id
            union
            select gm.user_id from group_roles gr
            join group_members gm on gm.group_id = gr.group_id
            where gr.role_id = new.id));
    end if;
    return null;
end $$;

create trigger roles_refresh_access after update on roles
    for each row execute function roles_refresh_access();

-- A group's name shows in its members' objects.
create function groups_refresh_access() returns trigger language plpgsql as $$
begin
    if new.name is distinct from old.name then
        perform refresh_user_access(array(
            select user_id from group_members where group_id = new.id));
    end if;
    return null;
end $$;

create trigger groups_refresh_access after update on groups
    for each row execute function groups_refresh_access();
