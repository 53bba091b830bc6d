-- API tokens for scripts. Only a hash of the token is kept.
create table api_tokens (
    id           bigint generated always as identity primary key,
    label        text        not null,
    token_hash   bytea       not null,
    created_by   bigint      not null references users (id) on delete cascade,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    constraint api_tokens_label_length check (char_length(label) between 1 and 100),
    constraint api_tokens_token_hash_key unique (token_hash)
);

create index api_tokens_created_by_idx on api_tokens (created_by);
