-- Webhooks (SPEC §11): endpoints admins register, and an outbox of deliveries.
--
-- Every audit event of a user or token (whoever made the change: the service,
-- the command line, raw SQL) puts a delivery in the outbox for each active
-- endpoint subscribed to its action, in the transaction of the change: a crash
-- after the commit loses nothing. The payload keeps the subject as it was then
-- (the last state, for a delete); the service shapes it as the API shows it
-- when it sends. Each instance LISTENs on `useradmin_webhooks` and claims due
-- deliveries with FOR UPDATE SKIP LOCKED.

create table webhooks (
    id         bigint generated always as identity primary key,
    url        text        not null,
    -- Actions (`user.created`) or families (`user.*`).
    events     text[]      not null,
    -- `whsec_` + base64 of 32 random bytes; needed to sign, so kept as it is.
    secret     text        not null,
    active     boolean     not null default true,
    created_by bigint      references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint webhooks_url_length check (char_length(url) between 8 and 2000),
    constraint webhooks_events_present check (cardinality(events) between 1 and 50)
);

create table webhook_deliveries (
    id              bigint generated always as identity primary key,
    webhook_id      bigint      not null references webhooks (id) on delete cascade,
    -- The `webhook-id` header: the same on every attempt.
    message_id      uuid        not null default gen_random_uuid(),
    event_type      text        not null,
    occurred_at     timestamptz not null,
    payload         jsonb       not null,
    status          text        not null default 'pending',
    attempts        integer     not null default 0,
    next_attempt_at timestamptz not null default now(),
    -- Set while an instance sends it; a claim older than this is taken again.
    claimed_until   timestamptz,
    response_code   integer,
    duration_ms     integer,
    last_error      text,
    created_at      timestamptz not null default now(),
    delivered_at    timestamptz,
    constraint webhook_deliveries_status check (status in ('pending', 'delivered', 'failed'))
);

-- Due deliveries, oldest first: what the dispatchers claim.
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where status = 'pending';
-- An endpoint's log, newest first.
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id);

-- The outbox, filled from the audit trail, one statement at a time (an import
-- of 100,000 users is one statement).
create function webhooks_enqueue() returns trigger language plpgsql as $$
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
    if found then
        perform pg_notify('useradmin_webhooks', '');
    end if;
    return null;
end $$;

create trigger audit_events_webhooks after insert on audit_events
    referencing new table as added
    for each statement execute function webhooks_enqueue();

-- Endpoints are audited like users and tokens (never their secret).
create function audit_webhooks() returns trigger language plpgsql as $$
declare
    changes jsonb := '{}';
begin
    if tg_op = 'INSERT' then
        changes := jsonb_build_object(
            'url', jsonb_build_array(null, new.url),
            'events', jsonb_build_array(null, to_jsonb(new.events)),
            'active', jsonb_build_array(null, new.active));
        perform audit_record('webhook.created', 'webhook', new.id, new.url, changes);
        return null;
    end if;
    if tg_op = 'DELETE' then
        perform audit_record('webhook.deleted', 'webhook', old.id, old.url, '{}');
        return null;
    end if;
    changes := audit_field(changes, 'url', to_jsonb(old.url), to_jsonb(new.url));
    changes := audit_field(changes, 'events', to_jsonb(old.events), to_jsonb(new.events));
    changes := audit_field(changes, 'active', to_jsonb(old.active), to_jsonb(new.active));
    if new.secret is distinct from old.secret then
        changes := changes || '{"secret": "rotated"}';
    end if;
    if changes = '{}' then
        return null;
    end if;
    perform audit_record(
        case when changes = '{"secret": "rotated"}' then 'webhook.secret_rotated'
             when changes ? 'active' and new.active then 'webhook.resumed'
             when changes ? 'active' then 'webhook.paused'
             else 'webhook.updated' end,
        'webhook', new.id, new.url, changes);
    return null;
end $$;

create trigger webhooks_audit after insert or update or delete on webhooks
    for each row execute function audit_webhooks();

create function webhooks_before_update() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

create trigger webhooks_before_update before update on webhooks
    for each row execute function webhooks_before_update();
