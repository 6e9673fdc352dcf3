import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// The schema, created and upgraded by GRDB's migrator (each migration runs once, in a transaction).
extension SQLiteCatalog {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE projects (
                    name TEXT PRIMARY KEY,
                    paused INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL);
                CREATE TABLE representations (
                    id TEXT PRIMARY KEY,
                    project TEXT NOT NULL REFERENCES projects(name),
                    folder TEXT NOT NULL, product TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
                    task TEXT, host TEXT,
                    created_at REAL NOT NULL,
                    paused INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (project, folder, product, version, name));
                CREATE TABLE representation_inputs (
                    representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
                    input_id TEXT NOT NULL,
                    PRIMARY KEY (representation_id, input_id));
                CREATE TABLE files (
                    id TEXT PRIMARY KEY,
                    representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
                    project TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    UNIQUE (project, path));
                CREATE INDEX files_by_representation ON files(representation_id, position);
                CREATE TABLE file_sites (
                    file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                    site TEXT NOT NULL,
                    representation_id TEXT NOT NULL,
                    project TEXT NOT NULL,
                    status TEXT NOT NULL,
                    priority INTEGER NOT NULL DEFAULT 50,
                    tries INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    last_failure_at REAL,
                    next_attempt_at REAL NOT NULL DEFAULT 0,
                    bytes_done INTEGER NOT NULL DEFAULT 0,
                    lease_owner TEXT,
                    lease_expires_at REAL,
                    synced_at REAL,
                    PRIMARY KEY (file_id, site));
                -- Picking work reads only queued rows of one site, best first: cost follows pending work.
                CREATE INDEX file_sites_pending ON file_sites(site, priority DESC, next_attempt_at)
                    WHERE status = \(SQLState.queued);
                CREATE INDEX file_sites_leased ON file_sites(lease_expires_at) WHERE status = \(SQLState.inProgress);
                CREATE INDEX file_sites_by_representation ON file_sites(representation_id, site);
                INSERT INTO meta(key, value) VALUES ('work_generation', '0');
                """)
        }
        m.registerMigration("v2: copies verified, missing or corrupt") { db in
            try db.execute(sql: """
                ALTER TABLE file_sites ADD COLUMN verified_at REAL;
                ALTER TABLE file_sites ADD COLUMN problem TEXT;
                ALTER TABLE file_sites ADD COLUMN problem_at REAL;
                -- Verification reads a site's copies oldest-verified first.
                CREATE INDEX file_sites_by_site ON file_sites(site, verified_at);
                """)
        }
        m.registerMigration("v3: product types") { db in
            try db.execute(sql: """
                -- product_type as given at publish (NULL: not given); product_kind the effective type.
                ALTER TABLE representations ADD COLUMN product_type TEXT;
                ALTER TABLE representations ADD COLUMN product_kind TEXT NOT NULL DEFAULT '';
                UPDATE representations SET product_kind = CASE WHEN product LIKE 'workfile%' THEN 'workfile' ELSE product END;
                -- The last published workfile of a folder and task is found by an index, not a scan.
                CREATE INDEX representations_by_kind ON representations(project, folder, product_kind, version);
                """)
        }
        m.registerMigration("v4: leases by owner") { db in
            try db.execute(sql: """
                -- A server giving its leases back (at exit, or a stopped transfer) finds its rows by this index
                -- instead of scanning every file × site row under the write lock.
                CREATE INDEX file_sites_by_owner ON file_sites(lease_owner) WHERE lease_owner IS NOT NULL;
                """)
        }
        m.registerMigration("v5: recent outcomes, states and times for the Sync Queue") { db in
            try db.execute(sql: """
                -- The activity panel's latest completions and failures are read by time, newest first.
                CREATE INDEX file_sites_recent_synced ON file_sites(synced_at) WHERE synced_at IS NOT NULL;
                CREATE INDEX file_sites_recent_failures ON file_sites(last_failure_at) WHERE last_failure_at IS NOT NULL;
                -- The Sync Queue's "failed on this site" (and missing, corrupt, paused) finds its few rows by index, and
                -- "newest first" reads representations by time.
                CREATE INDEX file_sites_failed ON file_sites(site, representation_id) WHERE status = \(SQLState.failed);
                CREATE INDEX file_sites_missing ON file_sites(site, representation_id) WHERE status = \(SQLState.literal(.missing));
                CREATE INDEX file_sites_corrupt ON file_sites(site, representation_id) WHERE status = \(SQLState.literal(.corrupt));
                CREATE INDEX file_sites_paused ON file_sites(site, representation_id) WHERE status = \(SQLState.paused);
                CREATE INDEX representations_by_created ON representations(project, created_at);
                """)
        }
        m.registerMigration("v6: copies made on a site from an identical file") { db in
            try db.execute(sql: """
                -- A claim looks for a file of the same project with the same content already on the target.
                CREATE INDEX files_by_content ON files(project, sha256, size);
                ALTER TABLE file_sites ADD COLUMN made_from TEXT;
                """)
        }
        return m
    }
}
