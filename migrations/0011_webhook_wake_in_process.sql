-- Webhook deliveries queued by the service's own writes no longer NOTIFY: the
-- instance that made the change wakes its dispatcher in process, and a command
-- that writes (which has no dispatcher) notifies once after its commit. NOTIFY
-- at commit takes a lock on the whole database's notification queue, so every
-- notifying transaction committed one at a time: with one endpoint subscribed,
-- creates ran at about half the rate of creates without (bench/FINDINGS.md §9).
-- Changes made outside the service (no `useradmin.actor`) still notify.

create or replace function webhooks_enqueue() returns trigger language plpgsql as $$
begin
    insert into webhook_deliveries (webhook_id, event_type, occurred_at, payload)
    select w.id, a.action, a.at,
           jsonb_build_object(
               a.subject_type,
               case a.subject_type
                   when 'user' then coalesce(
                       (select to_jsonb(u) - 'password_hash' - 'session_epoch'
                        from users u where u.id = a.subject_id),
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
    where a.subject_type in ('user', 'token')
    order by a.id, w.id;
    -- The service wakes its own dispatcher after its commits; NOTIFY is only
    -- for changes made without it (raw SQL), since it takes a database-wide
    -- lock at commit that makes concurrent writers commit one at a time.
    if found and coalesce(current_setting('useradmin.actor', true), '') = '' then
        perform pg_notify('useradmin_webhooks', '');
    end if;
    return null;
end $$;
