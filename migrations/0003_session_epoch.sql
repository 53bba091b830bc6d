-- Login sessions remember the epoch they were created in; changing a password moves
-- the epoch on, which ends that admin's other sessions.
alter table users add column session_epoch integer not null default 1;
