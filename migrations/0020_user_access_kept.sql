-- What each user holds, kept in one row per user (SPEC §14, Performance).
--
-- A user object carries its direct roles, its groups and its effective
-- permissions. Working them out on every read costs three joins per user, and
-- more in planning than a get-by-id costs in all; `user_access` keeps them, so
-- a read is one primary-key lookup. Triggers keep it whoever changes a grant,
-- a membership, a group's roles, a role's permissions or a group's name (raw
-- SQL included). The recomputation takes the lock that serialises changes of
-- access (`useradmin.access`, as the write path takes it), so two
-- transactions changing one user's access cannot each write what they saw
-- alone: the second waits, then reads what the first committed.

create table user_access (
    user_id     bigint primary key references users (id) on delete cascade,
    roles       text[] not null default '{}',
    groups      jsonb  not null default '[]',
    permissions text[] not null default '{}'
);

create function refresh_user_access(uids bigint[]) returns void language plpgsql as $$
begin
    if cardinality(uids) = 0 then
        return;
    end if;
    perform pg_advisory_xact_lock(hashtext('useradmin.access'));
    insert into user_access (user_id, roles, groups, permissions)
    select u.id, user_role_names(u.id), user_group_refs(u.id), user_permissions(u.id)
    from users u where u.id = any(uids)
    on conflict (user_id) do update
        set roles = excluded.roles, groups = excluded.groups, permissions = excluded.permissions;
end $$;

insert into user_access (user_id, roles, groups, permissions)
select u.id, user_role_names(u.id), user_group_refs(u.id), user_permissions(u.id)
from users u
where exists (select 1 from user_roles where user_id = u.id)
   or exists (select 1 from group_members where user_id = u.id);

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
