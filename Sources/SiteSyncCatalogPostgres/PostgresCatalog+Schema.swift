import Foundation
import Logging
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// The schema: created by `sitesync init` in an empty database, its version kept in `meta`; migrations run in
/// one transaction under an advisory lock, so two machines starting at once do not both migrate.
extension PostgresCatalog {
    static let migrations: [String] = [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE projects (name TEXT PRIMARY KEY, paused BOOLEAN NOT NULL DEFAULT false,
                               created_at DOUBLE PRECISION NOT NULL);
        CREATE TABLE representations (
            id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(name),
            folder TEXT NOT NULL, product TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
            task TEXT, host TEXT, created_at DOUBLE PRECISION NOT NULL, paused BOOLEAN NOT NULL DEFAULT false,
            product_type TEXT, product_kind TEXT NOT NULL,
            UNIQUE (project, folder, product, version, name));
        CREATE INDEX representations_by_kind ON representations(project, folder, product_kind, version);
        CREATE TABLE representation_inputs (
            representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
            input_id TEXT NOT NULL, PRIMARY KEY (representation_id, input_id));
        CREATE TABLE files (
            id TEXT PRIMARY KEY, representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
            project TEXT NOT NULL, position INTEGER NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL,
            sha256 TEXT NOT NULL, UNIQUE (project, path));
        CREATE INDEX files_by_representation ON files(representation_id, position);
        CREATE TABLE file_sites (
            file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE, site TEXT NOT NULL,
            representation_id TEXT NOT NULL, project TEXT NOT NULL, status TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 50, tries INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            last_failure_at DOUBLE PRECISION, next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
            bytes_done BIGINT NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires_at DOUBLE PRECISION,
            synced_at DOUBLE PRECISION, verified_at DOUBLE PRECISION, problem TEXT, problem_at DOUBLE PRECISION,
            PRIMARY KEY (file_id, site));
        -- Claims read only queued rows of one site, best first, while releasing by owner and expiry use their own index.
        CREATE INDEX file_sites_pending ON file_sites(site, priority DESC, next_attempt_at) WHERE status = 'queued';
        CREATE INDEX file_sites_leased ON file_sites(lease_expires_at) WHERE status = 'in_progress';
        CREATE INDEX file_sites_by_owner ON file_sites(lease_owner) WHERE lease_owner IS NOT NULL;
        CREATE INDEX file_sites_by_representation ON file_sites(representation_id, site);
        CREATE INDEX file_sites_by_site ON file_sites(site, verified_at);
        INSERT INTO meta(key, value) VALUES ('work_generation', '0');
        """,
        """
        -- The activity panel's latest completions and failures are read by time, newest first.
        CREATE INDEX file_sites_recent_synced ON file_sites(synced_at) WHERE synced_at IS NOT NULL;
        CREATE INDEX file_sites_recent_failures ON file_sites(last_failure_at) WHERE last_failure_at IS NOT NULL;
        -- The Sync Queue's "failed on this site" (and missing, corrupt, paused) finds its few rows by index, and
        -- "newest first" reads representations by time.
        CREATE INDEX file_sites_failed ON file_sites(site, representation_id) WHERE status = 'failed';
        CREATE INDEX file_sites_missing ON file_sites(site, representation_id) WHERE status = 'missing';
        CREATE INDEX file_sites_corrupt ON file_sites(site, representation_id) WHERE status = 'corrupt';
        CREATE INDEX file_sites_paused ON file_sites(site, representation_id) WHERE status = 'paused';
        CREATE INDEX representations_by_created ON representations(project, created_at);
        """,
        """
        -- A claim looks for a file of the same project with the same content already on the target.
        CREATE INDEX files_by_content ON files(project, sha256, size);
        ALTER TABLE file_sites ADD COLUMN made_from TEXT;
        """,
    ]

    static func prepare(_ client: PostgresClient, create: Bool, location: PostgresLocation, logger: Logger) async throws {
        let first = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
        try? await first.close()
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(73772026)", logger: logger)
            var version = 0
            let exists = try await connection.query("SELECT to_regclass('public.meta') IS NOT NULL", logger: logger)
            var hasMeta = false
            for try await (value) in exists.decode(Bool.self) { hasMeta = value }
            if hasMeta {
                let rows = try await connection.query("SELECT value FROM meta WHERE key = 'schema_version'", logger: logger)
                for try await (value) in rows.decode(String.self) { version = Int(value) ?? 0 }
                if version == 0 { version = 1 }
            }
            if version > schemaVersion {
                throw CatalogError.refused("\(location): this catalog was upgraded by a newer sitesync (schema \(version); this build knows \(schemaVersion)); upgrade sitesync on this machine")
            }
            if version == 0 && !create {
                throw CatalogError.notInitialized("\(location) holds no SiteSync catalog yet; run `sitesync init` with this catalog URL first")
            }
            for (index, migration) in migrations.enumerated() where index >= version {
                // One statement per query: the extended protocol takes no more.
                for statement in migration.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty && !statement.split(separator: "\n").allSatisfy({ $0.hasPrefix("--") }) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            if version < schemaVersion {
                try await connection.query("""
                    INSERT INTO meta(key, value) VALUES ('schema_version', \(String(schemaVersion)))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: logger)
            }
        }
    }
}
