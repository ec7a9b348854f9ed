-- Announces every change to a client or an API on the channel `ratchet_catalog`, so that every
-- node drops its cached copy (crates/store/src/catalog.rs, docs/deploy.md). A trigger covers any
-- writer (a node, the CLI, psql); pg_notify in the writing transaction is delivered when, and
-- only if, it commits. Inserts need no notice: unknown clients and APIs are never cached.
CREATE FUNCTION ratchet_notify_client_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ratchet_catalog', 'client:' || OLD.client_id);
    IF TG_OP = 'UPDATE' AND NEW.client_id IS DISTINCT FROM OLD.client_id THEN
        PERFORM pg_notify('ratchet_catalog', 'client:' || NEW.client_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_notify_change AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION ratchet_notify_client_change();

CREATE FUNCTION ratchet_notify_api_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ratchet_catalog', 'api:' || OLD.identifier);
    IF TG_OP = 'UPDATE' AND NEW.identifier IS DISTINCT FROM OLD.identifier THEN
        PERFORM pg_notify('ratchet_catalog', 'api:' || NEW.identifier);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER apis_notify_change AFTER UPDATE OR DELETE ON apis
    FOR EACH ROW EXECUTE FUNCTION ratchet_notify_api_change();

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
