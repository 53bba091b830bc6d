-- A second-factor key that is not confirmed yet lives only in the session that
-- drew it, for at most 10 minutes (SPEC §13). Until now it was kept here, where
-- every later session of the admin was shown the same key: someone who knew
-- only the password could copy it and pass the second step once the admin
-- confirmed it. Keys left waiting by that code are dropped, and the table now
-- holds enabled factors only, so none can be shown or confirmed again.
delete from two_factor where enabled_at is null;

alter table two_factor alter column enabled_at set not null;
