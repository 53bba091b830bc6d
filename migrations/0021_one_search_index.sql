-- `q` (SPEC §4: a case-insensitive substring of the name or the email) is
-- looked up in one trigram index over both, lower-cased, rather than in one
-- index per column: one bitmap instead of two, and a recheck that compares one
-- lower-cased string with LIKE instead of running ILIKE twice per candidate
-- row. A search's cost is its matches' heap visits and those rechecks (at
-- 1,000,000 users a surname matches 5,000 rows: bench/FINDINGS.md §11).
--
-- The newline between the two cannot occur in an email, so a term matches
-- across the boundary only if it holds a newline itself; the service then adds
-- the per-column test (src/db/users.rs).
--
-- A create now updates one trigram index, not two.

create index users_search_trgm_idx on users
    using gin ((lower(name) || E'\n' || lower(email)) gin_trgm_ops);

drop index users_name_trgm_idx;
drop index users_email_trgm_idx;
