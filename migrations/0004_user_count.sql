-- The number of users, kept as it changes, so a list page does not count a
-- million rows. Sixteen shards: concurrent creates on different connections
-- update different rows and do not queue behind one lock. Statement-level
-- triggers with transition tables keep a bulk insert to one update.
create table user_count_shards (
    shard smallint primary key,
    n     bigint   not null
);

insert into user_count_shards (shard, n) select s, 0 from generate_series(0, 15) as s;
update user_count_shards set n = (select count(*) from users) where shard = 0;

create function user_count_after_insert() returns trigger language plpgsql as $$
begin
    update user_count_shards set n = n + (select count(*) from inserted)
    where shard = pg_backend_pid() % 16;
    return null;
end $$;

create function user_count_after_delete() returns trigger language plpgsql as $$
begin
    update user_count_shards set n = n - (select count(*) from deleted)
    where shard = pg_backend_pid() % 16;
    return null;
end $$;

create function user_count_after_truncate() returns trigger language plpgsql as $$
begin
    update user_count_shards set n = 0;
    return null;
end $$;

create trigger users_count_insert after insert on users
    referencing new table as inserted for each statement execute function user_count_after_insert();
create trigger users_count_delete after delete on users
    referencing old table as deleted for each statement execute function user_count_after_delete();
create trigger users_count_truncate after truncate on users
    for each statement execute function user_count_after_truncate();
