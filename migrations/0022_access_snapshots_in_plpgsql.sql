-- What a user holds (0018: user_role_names, user_group_refs, user_permissions)
-- is read by the outbox trigger for every queued `user.*` delivery and by the
-- access upkeep of 0020. As SQL functions with an aggregate they cannot be
-- inlined, and PostgreSQL plans a non-inlined SQL function's body again on
-- every call: with one endpoint subscribed, building a create's payload took
-- about 0.45 ms of the database's CPU, most of it planning these three
-- statements (bench/FINDINGS.md §11). The same bodies in PL/pgSQL are planned
-- once per connection and kept.

create or replace function user_permissions(uid bigint) returns text[] language plpgsql stable as $$
begin
    return (
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
        ) held);
end $$;

create or replace function user_role_names(uid bigint) returns text[] language plpgsql stable as $$
begin
    return (
        select coalesce(array_agg(r.name order by lower(r.name)), '{}')
        from user_roles ur join roles r on r.id = ur.role_id
        where ur.user_id = uid);
end $$;

create or replace function user_group_refs(uid bigint) returns jsonb language plpgsql stable as $$
begin
    return (
        select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name)
                                  order by lower(g.name), g.id), '[]')
        from group_members gm join groups g on g.id = gm.group_id
        where gm.user_id = uid);
end $$;

-- The outbox trigger as 0019 left it, but a new user's payload takes what it
-- holds from the columns 0020 keeps in its row, which the insert itself has
-- just set (`users_access_on_create`), and leaves those columns' own names
-- out of the snapshot (they are `roles`, `groups` and `permissions` there).
-- Other user events still read the tables: a change of roles or groups is
-- audited before the row's copy is refreshed.

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
                               - 'access_roles' - 'access_groups' - 'access_permissions'
                               || case when a.action = 'user.created'
                                  then jsonb_build_object('roles', u.access_roles,
                                                          'groups', u.access_groups,
                                                          'permissions', u.access_permissions)
                                  else jsonb_build_object('roles', user_role_names(u.id),
                                                          'groups', user_group_refs(u.id),
                                                          'permissions', user_permissions(u.id))
                                  end
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

