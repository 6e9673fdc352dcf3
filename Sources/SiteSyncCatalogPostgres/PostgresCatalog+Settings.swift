import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// Studio settings, server pause and projects.
extension PostgresCatalog {
    public func studioSettingsYAML() async throws -> String? {
        try await rows("SELECT value FROM meta WHERE key = 'studio_settings'").first?["value"].decode(String.self)
    }

    public func setStudioSettingsYAML(_ yaml: String) async throws {
        let logger = self.logger
        try await transaction { c in
            try await c.query("""
                INSERT INTO meta(key, value) VALUES ('studio_settings', \(yaml))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    public func replaceStudioSettingsYAML(_ yaml: String, ifStill current: String?) async throws -> Bool {
        let logger = self.logger
        return try await transaction { c in
            // The row lock makes two writers take turns; the second sees the first's text and gives up.
            var now: String?
            for try await (value) in try await c.query("SELECT value FROM meta WHERE key = 'studio_settings' FOR UPDATE",
                                                        logger: logger).decode(String.self) { now = value }
            if now == nil {
                try await c.query("SELECT pg_advisory_xact_lock(73772027)", logger: logger)
                for try await (value) in try await c.query("SELECT value FROM meta WHERE key = 'studio_settings'",
                                                            logger: logger).decode(String.self) { now = value }
            }
            guard now == current else { return false }
            try await c.query("""
                INSERT INTO meta(key, value) VALUES ('studio_settings', \(yaml))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, logger: logger)
            try await self.bumpGeneration(c)
            return true
        }
    }

    public func isServerPaused() async throws -> Bool {
        try await rows("SELECT value FROM meta WHERE key = 'server_paused'").first?["value"].decode(String.self) == "1"
    }

    public func setServerPaused(_ paused: Bool) async throws {
        let logger = self.logger
        try await transaction { c in
            try await c.query("""
                INSERT INTO meta(key, value) VALUES ('server_paused', \(paused ? "1" : "0"))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    public func addProject(_ name: String, now: Date) async throws {
        try await execute("INSERT INTO projects(name, created_at) VALUES (\(name), \(now.timeIntervalSince1970)) ON CONFLICT DO NOTHING")
    }

    public func projects() async throws -> [ProjectRecord] {
        try await rows("SELECT name, paused FROM projects ORDER BY name").map {
            ProjectRecord(name: try $0["name"].decode(String.self), paused: try $0["paused"].decode(Bool.self))
        }
    }

    public func setProjectPaused(_ name: String, paused: Bool) async throws {
        let logger = self.logger
        try await transaction { c in
            var found = false
            for try await (_) in try await c.query("UPDATE projects SET paused = \(paused) WHERE name = \(name) RETURNING name",
                                                    logger: logger).decode(String.self) { found = true }
            guard found else { throw CatalogError.unknownProject(name) }
            try await self.bumpGeneration(c)
        }
    }
}
