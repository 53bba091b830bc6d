-- Webhooks for roles and groups (SPEC §14): role.* and group.* events reach
-- their subscribers, and a user's payload says what the user holds.
--
-- webhooks_enqueue as 0012 left it, plus:
-- * `group` and `role` subjects, shown as the API shows them (a group with its
--   roles' names and member count; a role with its permissions), or only
--   their id once gone;
-- * a user's snapshot carries `roles`, `groups` and `permissions` (kept in
--   their own tables, so not in the users row);
-- * nothing to do when no active endpoint exists: the trigger runs for every
--   audited row, and planning the statement below costs more than the rest.
--
-- The snapshots are functions, planned only when an event needs them, not
-- with every run of the statement.

create function webhook_group_snapshot(gid bigint) returns jsonb language sql stable as $$
    select jsonb_build_object(
               'id', g.id, 'name', g.name, 'description', g.description,
               'external_id', g.external_id, 'version', g.version,
               'roles', array(select r.name from group_roles gr join roles r on r.id = gr.role_id
                              where gr.group_id = g.id order by lower(r.name)),
               'member_count', (select count(*) from group_members gm where gm.group_id = g.id))
    from groups g where g.id = gid
$$;

create function webhook_role_snapshot(rid bigint) returns jsonb language sql stable as $$
    select jsonb_build_object(
               'id', r.id, 'name', r.name, 'description', r.description,
               'permissions', r.permissions, 'builtin', r.builtin)
    from roles r where r.id = rid
$$;

create or replace function webhooks_enqueue() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from webhooks where active) then
        return null;
    end if;
    insert into webhook_deliveries (webhook_id, event_type, occurred_at, payload)
    select w.id, a.action, a.at,
           jsonb_build_object(
               a.subject_type,
               case a.subject_type
                   when 'user' then coalesce(
                       (select to_jsonb(u) - 'password_hash' - 'session_epoch'
                               || jsonb_build_object('roles', user_role_names(u.id),
                                                     'groups', user_group_refs(u.id),
                                                     'permissions', user_permissions(u.id))
                        from users u where u.id = a.subject_id),
                       jsonb_build_object('id', a.subject_id))
                   when 'group' then coalesce(webhook_group_snapshot(a.subject_id),
                                              jsonb_build_object('id', a.subject_id))
                   when 'role' then coalesce(webhook_role_snapshot(a.subject_id),
                                             jsonb_build_object('id', a.subject_id))
                   else coalesce(
                       (select to_jsonb(t) - 'token_hash' from api_tokens t where t.id = a.subject_id),
                       jsonb_build_object('id', a.subject_id))
               end,
               'changes', a.changes)
    from added a
    join webhooks w
      on w.active
     and (a.action = any (w.events) or split_part(a.action, '.', 1) || '.*' = any (w.events))
    where a.subject_type in ('user', 'token', 'group', 'role')
    order by a.id, w.id;
    -- The service wakes its own dispatcher after its commits; NOTIFY is only
    -- for changes made without it (raw SQL), since it takes a database-wide
    -- lock at commit that makes concurrent writers commit one at a time.
    if found and (coalesce(current_setting('useradmin.actor', true), '') = ''
                  or not useradmin_service_session()) then
        perform pg_notify('useradmin_webhooks', '');
    end if;
    return null;
end $$;
