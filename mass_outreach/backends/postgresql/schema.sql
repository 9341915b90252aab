-- mass_outreach schema for PostgreSQL, version 3: the same tables, rules and indexes as schema.sql.
--
-- Native types: uuid, timestamptz (microseconds, as the store's text form), boolean, bigint; text in
-- COLLATE "C", so that order and equality are by code point whatever the database's collation is.
-- Every rule of the record is a CHECK here too, mirroring mass_outreach/model.py (tests/test_pg_schema.py
-- breaks each one with a raw INSERT). Lengths are char_length (code points, as Python's len()); PostgreSQL
-- text cannot hold NUL, so that rule needs no CHECK; the id's lowercase canonical form is the uuid type's
-- own text form. The store fills the table `mass_outreach` (application mark and schema version) after
-- running this file, in the same transaction. Statements end with `;` at the end of a line.

CREATE TABLE tag (
    name text COLLATE "C" PRIMARY KEY
        CHECK (char_length(name) BETWEEN 1 AND 254)
);

CREATE TABLE outreach (
    id uuid PRIMARY KEY,
    outreach_type text COLLATE "C" NOT NULL
        CHECK (outreach_type IN ('Facebook_DirectMessage', 'Facebook_FriendRequest', 'GMail_DirectMessage',
            'LinkedIn_ConnectionRequest', 'LinkedIn_DirectMessage', 'Postmark_DirectMessage')),
    status text COLLATE "C" NOT NULL
        CHECK (status IN ('pending', 'running', 'performed', 'failed', 'aborted', 'canceled')),
    approved boolean NOT NULL DEFAULT false,
    skip_repliers text COLLATE "C"
        CHECK (skip_repliers IN ('global', 'tag_only', 'none')),
    direction text COLLATE "C" NOT NULL DEFAULT 'outgoing'
        CHECK (direction IN ('outgoing', 'incoming', 'accepted')),
    tag text COLLATE "C" REFERENCES tag (name) ON UPDATE RESTRICT ON DELETE RESTRICT,
    subject text COLLATE "C"
        CHECK (char_length(subject) <= 1000),
    body text COLLATE "C"
        CHECK (char_length(body) <= 1000000),
    body_type text COLLATE "C" NOT NULL DEFAULT 'plain'
        CHECK (body_type IN ('plain', 'html')),
    error_description text COLLATE "C"
        CHECK (char_length(error_description) <= 10000),
    screenshot_url text COLLATE "C"
        CHECK (char_length(screenshot_url) <= 2048 AND screenshot_url ~ '^https?://([^/?#@]*@)?(\[[^]/?#@[]+\]|[^]/?#:@[]+)(:[0-9]*)?([/?#]|$)'
            AND screenshot_url !~ '[\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'),
    message_id text COLLATE "C"
        CHECK (char_length(message_id) <= 998 AND message_id ~ '.@.'
            AND message_id !~ '[<>\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'),
    reply_to_message_id text COLLATE "C"
        CHECK (char_length(reply_to_message_id) <= 998 AND reply_to_message_id ~ '.@.'
            AND reply_to_message_id !~ '[<>\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'),
    -- years 1 to 9999, as the text form 'YYYY-MM-DDTHH:MM:SS.ffffffZ' writes them
    create_time timestamptz NOT NULL
        CHECK (create_time >= '0001-01-01T00:00:00Z' AND create_time < '10000-01-01T00:00:00Z'),
    update_time timestamptz NOT NULL
        CHECK (update_time >= '0001-01-01T00:00:00Z' AND update_time < '10000-01-01T00:00:00Z'),
    done_time timestamptz
        CHECK (done_time >= '0001-01-01T00:00:00Z' AND done_time < '10000-01-01T00:00:00Z'),
    version bigint NOT NULL DEFAULT 1
        CHECK (version >= 1),
    -- set by delete (a soft delete); reads leave such records out unless asked (version 2)
    delete_time timestamptz
        CHECK (delete_time >= '0001-01-01T00:00:00Z' AND delete_time < '10000-01-01T00:00:00Z'),
    -- == version 3: sync ==
    -- the record's place in the change feed: the id of the transaction that last wrote it (xid8, as
    -- bigint); a store's write sets it, and so do the default and mass_outreach_feed() for other writers
    feed bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    -- the stamps of the record's field groups (mass_outreach/sync/clock.py); NULL: every group
    -- stamped when the record was last written (update_time), by this store
    clock text COLLATE "C"
        CHECK (clock IS NULL OR clock::json IS NOT NULL),
    -- == end of version 3 ==
    -- == version 4: echoes ==
    -- the peer whose batch wrote this record's state unchanged, and the feed position it was written
    -- at: while the record is still there (feed = echo_feed), a batch for that peer leaves it out
    echo_of text COLLATE "C",
    echo_feed bigint,
    -- == end of version 4 ==
    -- message ids belong to the email types only
    CHECK ((message_id IS NULL AND reply_to_message_id IS NULL)
        OR outreach_type IN ('GMail_DirectMessage', 'Postmark_DirectMessage')),
    -- done_time is set once status has left pending
    CHECK (status = 'pending' OR done_time IS NOT NULL)
);

-- The same keyset indexes as schema.sql, partial over the live records. PostgreSQL's B-tree reads
-- backwards as well as forwards, and sorts NULLs last ascending; the store asks for SQLite's order
-- (NULLs first ascending, last descending) with NULLS FIRST / NULLS LAST, which only the nullable
-- columns need: none of these leading columns is nullable, so the plans are index scans.
CREATE INDEX outreach_live_id ON outreach (id) WHERE delete_time IS NULL;
CREATE INDEX outreach_create_time ON outreach (create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_update_time ON outreach (update_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_id ON outreach (status, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_create_time ON outreach (status, create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_update_time ON outreach (status, update_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_id ON outreach (outreach_type, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_create_time ON outreach (outreach_type, create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_update_time ON outreach (outreach_type, update_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_deleted ON outreach (delete_time, id) WHERE delete_time IS NOT NULL;
CREATE INDEX outreach_tag_id ON outreach (tag, id);

-- The page-number walk signal (see mass_outreach/backends/postgresql.py): every statement that
-- writes outreach adds one to its own backend's counter, in the writer's transaction; a reader sums the
-- counters in its snapshot. A backend's row is its own (no two live backends share a pid), so writers
-- never wait for each other here. Each open folds the rows of ended backends into the row of pid 0,
-- keeping the sum.
CREATE TABLE mass_outreach_writes (
    pid integer PRIMARY KEY,
    n bigint NOT NULL
);

CREATE FUNCTION mass_outreach_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO %I.mass_outreach_writes AS w (pid, n) VALUES (pg_backend_pid(), 1) '
        'ON CONFLICT (pid) DO UPDATE SET n = w.n + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER outreach_count_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON outreach
    FOR EACH STATEMENT EXECUTE FUNCTION mass_outreach_count_write();

-- == version 3: sync ==
-- The change feed, read in (feed, id) order below the oldest running transaction (sync/feed.py).
CREATE INDEX outreach_feed ON outreach (feed, id);

-- An UPDATE that does not set feed itself (another client's SQL) still moves the record in the feed.
CREATE FUNCTION mass_outreach_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.feed := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;

CREATE TRIGGER outreach_feed BEFORE UPDATE ON outreach
    FOR EACH ROW WHEN (NEW.feed = OLD.feed) EXECUTE FUNCTION mass_outreach_feed();

-- This store's identity (minted at creation, again when the schema turns out to be a copy: `place`
-- is where it was made). One row.
CREATE TABLE sync_state (
    identity text COLLATE "C" NOT NULL,
    place text COLLATE "C"
);
INSERT INTO sync_state (identity, place) VALUES (gen_random_uuid()::text, NULL);

-- What this store has taken from each peer: its position in the peer's feed (which holds a fingerprint
-- of the change there, so that a peer that went back is read again from its beginning), and when.
CREATE TABLE sync_peer (
    peer text COLLATE "C" PRIMARY KEY,
    position text COLLATE "C" NOT NULL,
    update_time text COLLATE "C" NOT NULL
);

-- Ids purged here, kept for good so that no peer brings them back; they travel in the feed.
CREATE TABLE sync_purged (
    id uuid PRIMARY KEY,
    feed bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    purge_time text COLLATE "C" NOT NULL
);
CREATE INDEX sync_purged_feed ON sync_purged (feed, id);

-- Concurrent edits that lost a merge: what was lost, by whom, and what won.
CREATE TABLE sync_conflict (
    n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL,
    field_group text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    stamp text COLLATE "C" NOT NULL,
    origin text COLLATE "C" NOT NULL,
    winner_stamp text COLLATE "C" NOT NULL,
    winner_origin text COLLATE "C" NOT NULL,
    peer text COLLATE "C" NOT NULL,
    time text COLLATE "C" NOT NULL
);
CREATE INDEX sync_conflict_id ON sync_conflict (id, n);
-- == end of version 3 ==

-- What this schema is: the application's mark and the schema version (one row).
CREATE TABLE mass_outreach (
    application text NOT NULL,
    version integer NOT NULL
);
