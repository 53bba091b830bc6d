-- Users: the one table this service manages.
create extension if not exists pg_trgm;

create table users (
    id            bigint generated always as identity primary key,
    name          text        not null,
    email         text        not null,
    password_hash text,
    is_admin      boolean     not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    version       integer     not null default 1,
    constraint users_name_length check (char_length(name) between 1 and 100),
    constraint users_email_length check (char_length(email) between 3 and 120),
    constraint users_version_positive check (version >= 1)
);

-- Emails are unique whatever their letter case; the error layer maps this name to a 409.
create unique index users_email_key on users (lower(email));

-- Keyset pagination: one index per sort order, the id as tie-breaker.
create index users_name_id_idx on users (name, id);
create index users_email_id_idx on users (email, id);
create index users_created_at_id_idx on users (created_at, id);

-- Case-insensitive substring search (`q`) on name and email.
create index users_name_trgm_idx on users using gin (name gin_trgm_ops);
create index users_email_trgm_idx on users using gin (email gin_trgm_ops);

-- Admins are few: finding them (last-admin rule, bootstrap) must not scan the table.
create index users_admins_idx on users (id) where is_admin;
