import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// Studio settings, server pause and projects.
extension SQLiteCatalog {
    // MARK: Settings

    public func studioSettingsYAML() async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'studio_settings'") }
    }

    public func setStudioSettingsYAML(_ yaml: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('studio_settings', ?)", arguments: [yaml])
            try Self.bumpGeneration(db)
        }
    }

    public func replaceStudioSettingsYAML(_ yaml: String, ifStill current: String?) async throws -> Bool {
        try await write { db in
            let now = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'studio_settings'")
            guard now == current else { return false }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('studio_settings', ?)", arguments: [yaml])
            try Self.bumpGeneration(db)
            return true
        }
    }

    public func isServerPaused() async throws -> Bool {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'server_paused'") == "1"
        }
    }

    public func setServerPaused(_ paused: Bool) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('server_paused', ?)",
                           arguments: [paused ? "1" : "0"])
            try Self.bumpGeneration(db)
        }
    }

    // MARK: Projects

    public func addProject(_ name: String, now: Date) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO projects(name, created_at) VALUES (?, ?)",
                           arguments: [name, now.timeIntervalSince1970])
        }
    }

    public func projects() async throws -> [ProjectRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT name, paused FROM projects ORDER BY name").map {
                ProjectRecord(name: $0["name"], paused: $0["paused"])
            }
        }
    }

    public func setProjectPaused(_ name: String, paused: Bool) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE projects SET paused = ? WHERE name = ?", arguments: [paused, name])
            guard db.changesCount == 1 else { throw CatalogError.unknownProject(name) }
            try Self.bumpGeneration(db)
        }
    }
}
