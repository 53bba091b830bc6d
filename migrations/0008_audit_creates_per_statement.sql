-- Creates are audited one statement at a time: an import of 100,000 users
-- writes its 100,000 `user.created` events with one INSERT … SELECT rather than
-- 100,000 function calls (the row trigger cost more than the insert itself).
-- The events are the same as before (0007's audit_users).

create function audit_users_created() returns trigger language plpgsql as $$
declare
    actor jsonb := audit_actor();
begin
    insert into audit_events (actor_kind, actor_id, actor_label, via, request_id, client_ip,
                              action, subject_type, subject_id, subject_label, changes)
    select actor->>'kind', (actor->>'id')::bigint, coalesce(actor->>'label', ''),
           coalesce(actor->>'via', 'sql'), actor->>'request_id', actor->>'client_ip',
           'user.created', 'user', n.id, n.email,
           jsonb_build_object(
               'name', jsonb_build_array(null, n.name),
               'email', jsonb_build_array(null, n.email),
               'is_admin', jsonb_build_array(null, n.is_admin),
               'status', jsonb_build_array(null, n.status))
           || case when n.external_id is not null
                   then jsonb_build_object('external_id', jsonb_build_array(null, n.external_id))
                   else '{}'::jsonb end
           || case when n.password_hash is not null
                   then '{"password": "changed"}'::jsonb
                   else '{}'::jsonb end
    from inserted n
    order by n.id;
    return null;
end $$;

drop trigger users_audit on users;
create trigger users_audit after update or delete on users
    for each row execute function audit_users();
create trigger users_audit_insert after insert on users
    referencing new table as inserted
    for each statement execute function audit_users_created();
