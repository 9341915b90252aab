-- mass_outreach schema, version 2: the one source of the DDL.
--
-- Every rule of the record that SQL can express is a CHECK here, mirroring mass_outreach/model.py
-- (tests/test_schema.py compares the two). Enum CHECKs are written as `x = 'a' OR x = 'b'`, not
-- `x IN (...)`: SQLite 3.40 builds an ephemeral table for every IN list of more than two constants on
-- every row. Text columns reject NUL; `length()` counts code points, as Python's len() does.
-- Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so text order is time order.
-- The store sets PRAGMA application_id and user_version after running this file.

CREATE TABLE tag (
    name TEXT PRIMARY KEY NOT NULL
        CHECK (length(name) BETWEEN 1 AND 254 AND instr(CAST(name AS BLOB), x'00') = 0)
) STRICT;

CREATE TABLE outreach (
    id TEXT PRIMARY KEY NOT NULL
        CHECK (length(id) = 36 AND id GLOB
            '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    outreach_type TEXT NOT NULL
        CHECK (outreach_type = 'Facebook_DirectMessage' OR outreach_type = 'Facebook_FriendRequest'
            OR outreach_type = 'GMail_DirectMessage' OR outreach_type = 'LinkedIn_ConnectionRequest'
            OR outreach_type = 'LinkedIn_DirectMessage' OR outreach_type = 'Postmark_DirectMessage'),
    status TEXT NOT NULL
        CHECK (status = 'pending' OR status = 'running' OR status = 'performed'
            OR status = 'failed' OR status = 'aborted' OR status = 'canceled'),
    approved INTEGER NOT NULL DEFAULT 0
        CHECK (approved = 0 OR approved = 1),
    skip_repliers TEXT
        CHECK (skip_repliers = 'global' OR skip_repliers = 'tag_only' OR skip_repliers = 'none'),
    direction TEXT NOT NULL DEFAULT 'outgoing'
        CHECK (direction = 'outgoing' OR direction = 'incoming' OR direction = 'accepted'),
    tag TEXT REFERENCES tag (name) ON UPDATE RESTRICT ON DELETE RESTRICT,
    subject TEXT
        CHECK (length(subject) <= 1000 AND instr(CAST(subject AS BLOB), x'00') = 0),
    body TEXT
        CHECK (length(body) <= 1000000 AND instr(CAST(body AS BLOB), x'00') = 0),
    body_type TEXT NOT NULL DEFAULT 'plain'
        CHECK (body_type = 'plain' OR body_type = 'html'),
    error_description TEXT
        CHECK (length(error_description) <= 10000 AND instr(CAST(error_description AS BLOB), x'00') = 0),
    screenshot_url TEXT
        CHECK (length(screenshot_url) <= 2048
            AND (screenshot_url GLOB 'http://?*' OR screenshot_url GLOB 'https://?*')
            AND instr(CAST(screenshot_url AS BLOB), x'00') = 0
            AND screenshot_url NOT GLOB '*[' || char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760,
                8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287,
                12288) || ']*'),
    message_id TEXT
        CHECK (length(message_id) <= 998 AND message_id GLOB '?*@?*'
            AND instr(CAST(message_id AS BLOB), x'00') = 0
            AND message_id NOT GLOB '*[<>' || char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760,
                8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287,
                12288) || ']*'),
    reply_to_message_id TEXT
        CHECK (length(reply_to_message_id) <= 998 AND reply_to_message_id GLOB '?*@?*'
            AND instr(CAST(reply_to_message_id AS BLOB), x'00') = 0
            AND reply_to_message_id NOT GLOB '*[<>' || char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160,
                5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239,
                8287, 12288) || ']*'),
    create_time TEXT NOT NULL
        CHECK (create_time GLOB
            '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    update_time TEXT NOT NULL
        CHECK (update_time GLOB
            '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    done_time TEXT
        CHECK (done_time GLOB
            '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    version INTEGER NOT NULL DEFAULT 1
        CHECK (version >= 1),
    -- set by delete (a soft delete); reads leave such records out unless asked (version 2)
    delete_time TEXT
        CHECK (delete_time GLOB
            '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- message ids belong to the email types only
    CHECK ((message_id IS NULL AND reply_to_message_id IS NULL)
        OR outreach_type = 'GMail_DirectMessage' OR outreach_type = 'Postmark_DirectMessage'),
    -- done_time is set once status has left pending
    CHECK (status = 'pending' OR done_time IS NOT NULL)
) STRICT;

-- Keyset-friendly indexes: each ends in id, so `ORDER BY <field>, id` walks an index with no sort step,
-- alone or after an equality filter on status or outreach_type. They are partial, over the live
-- records only (reads leave deleted ones out, with `delete_time IS NULL`): a walk never steps over
-- deleted records, however many there are and wherever they cluster. outreach_live_id serves the id
-- order of live records (the primary key's index holds the deleted ones too).
CREATE INDEX outreach_live_id ON outreach (id) WHERE delete_time IS NULL;
CREATE INDEX outreach_create_time ON outreach (create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_update_time ON outreach (update_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_id ON outreach (status, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_create_time ON outreach (status, create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_status_update_time ON outreach (status, update_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_id ON outreach (outreach_type, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_create_time ON outreach (outreach_type, create_time, id) WHERE delete_time IS NULL;
CREATE INDEX outreach_type_update_time ON outreach (outreach_type, update_time, id) WHERE delete_time IS NULL;
-- the deleted records, by deletion time: purge, and reads of deleted records (an insert of a live
-- record does not touch it)
CREATE INDEX outreach_deleted ON outreach (delete_time, id) WHERE delete_time IS NOT NULL;
-- serves the tag filter and the foreign-key check when a tag is removed (deleted records use their
-- tag too, until purged, so it covers them)
CREATE INDEX outreach_tag_id ON outreach (tag, id);
