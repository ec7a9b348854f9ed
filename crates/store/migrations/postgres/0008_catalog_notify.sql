-- Announces every change to a client or an API on the channel `ratchet_catalog`, so that every
-- node drops its cached copy (crates/store/src/catalog.rs, docs/deploy.md). A trigger covers any
-- writer (a node, the CLI, psql); pg_notify in the writing transaction is delivered when, and
-- only if, it commits. Inserts need no notice: unknown clients and APIs are never cached.
-- One function serves both tables: TG_ARGV[0] is the kind in the payload (`client`, `api`),
-- TG_ARGV[1] the column holding the key the cache uses.
CREATE FUNCTION ratchet_notify_catalog_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key text := to_jsonb(OLD) ->> TG_ARGV[1];
BEGIN
    PERFORM pg_notify('ratchet_catalog', TG_ARGV[0] || ':' || old_key);
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) ->> TG_ARGV[1]) IS DISTINCT FROM old_key THEN
        PERFORM pg_notify('ratchet_catalog', TG_ARGV[0] || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_notify_change AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION ratchet_notify_catalog_change('client', 'client_id');
CREATE TRIGGER apis_notify_change AFTER UPDATE OR DELETE ON apis
    FOR EACH ROW EXECUTE FUNCTION ratchet_notify_catalog_change('api', 'identifier');

-- TRUNCATE fires no row trigger: announce it as a change of everything.
CREATE FUNCTION ratchet_notify_catalog_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ratchet_catalog', 'truncate:' || TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_notify_truncate AFTER TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION ratchet_notify_catalog_truncate();
CREATE TRIGGER apis_notify_truncate AFTER TRUNCATE ON apis
    FOR EACH STATEMENT EXECUTE FUNCTION ratchet_notify_catalog_truncate();
