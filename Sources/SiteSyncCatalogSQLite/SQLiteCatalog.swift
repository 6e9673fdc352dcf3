import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// The embedded default catalog: one SQLite file in WAL mode, so a running server and CLI commands of the
/// same machine can use it at once. Keep it on a local disk (SQLite locking is not safe on network shares).
public final class SQLiteCatalog: Catalog {
    public let pool: DatabasePool
    public let path: String

    /// Opens (and migrates) the catalog at `path`; `create` false refuses a missing file.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw CatalogError.notInitialized("no catalog at \(path); run `sitesync init` first (or pass --catalog / set SITESYNC_CATALOG)")
        }
        var config = Configuration()
        // Another process may hold the write lock for a moment (a publish while the server runs).
        config.busyMode = .timeout(30)
        // Pages read through a memory map rather than copied by a read call each time: a busy server reads the
        // same index pages for every file.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 268435456") }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // A catalog migrated by a newer sitesync has tables this build would misread: refuse, never guess.
            if try pool.read({ try Self.migrator.hasBeenSuperseded($0) }) {
                throw CatalogError.refused("\(path): this catalog was upgraded by a newer sitesync (this build knows schema \(Self.migrator.migrations.count)); upgrade sitesync on this machine")
            }
            try Self.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw CatalogError.unavailable("cannot open \(path): \(error.message ?? error.description)")
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let e as DatabaseError { throw Self.wrap(e) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let e as DatabaseError { throw Self.wrap(e) }
    }

    /// Says whether a retry can help: a lock held past the busy timeout or an I/O error may pass; a constraint
    /// or a corrupt file will not.
    static func wrap(_ e: DatabaseError) -> CatalogError {
        let message = e.message ?? e.description
        switch e.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .busy(message)
        case .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_FULL, .SQLITE_PROTOCOL: return .unavailable(message)
        default: return .storage(message)
        }
    }

    static func bumpGeneration(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'work_generation'").execute()
    }
}

/// Transfer states are stored as their raw values, read and bound as typed values.
extension FileSyncStatus: DatabaseValueConvertible {}

/// A state as an SQL literal, for queries on the partial indexes (`WHERE status = <queued>`): SQLite uses such an
/// index only when the query spells the same literal, which a bound parameter does not. Everywhere else states
/// are bound as typed values.
enum SQLState {
    static let queued = literal(.queued)
    static let inProgress = literal(.inProgress)
    static let synced = literal(.synced)
    static let paused = literal(.paused)
    static let failed = literal(.failed)
    static func literal(_ status: FileSyncStatus) -> String { "'\(status.rawValue)'" }
}
