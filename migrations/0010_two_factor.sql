-- Two-factor login (TOTP, RFC 6238) for admins. Kept apart from `users`: its
-- row triggers bump `version`, write audit events and queue webhooks, and the
-- secret must never reach the audit trail or a webhook. The service records the
-- 2fa.* events itself.

create table two_factor (
    user_id    bigint      primary key references users (id) on delete cascade,
    -- The shared secret (20 random bytes). Shown only while enrolling.
    secret     bytea       not null,
    -- Null while enrolment waits for its confirming code.
    enabled_at timestamptz,
    -- The last time step whose code was accepted: a code is accepted only for a
    -- later step, so each is accepted once, whichever instance sees it.
    last_step  bigint,
    created_at timestamptz not null default now(),
    constraint two_factor_secret_length check (octet_length(secret) between 16 and 64)
);

-- Ten single-use recovery codes per enrolment, as SHA-256 digests of the
-- normalised code (the codes are random, 50 bits each; never user-chosen).
create table two_factor_recovery_codes (
    user_id   bigint      not null references two_factor (user_id) on delete cascade,
    code_hash bytea       not null,
    used_at   timestamptz,
    constraint two_factor_recovery_codes_pkey primary key (user_id, code_hash)
);
