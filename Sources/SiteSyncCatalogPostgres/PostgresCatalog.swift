import Foundation
import Logging
import NIOSSL
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// The studio catalog: one PostgreSQL database that every machine and sync server shares.
///
/// Leases are timed by the database's clock (`clock_timestamp()`), so machines with skewed clocks never take each
/// other's leases; claims lock rows with `FOR UPDATE SKIP LOCKED`, so servers claiming at once get disjoint work;
/// writes that create work `NOTIFY`, and each catalog `LISTEN`s on a connection of its own, so a publish on one
/// machine starts a transfer on another at once (polling takes over while the listener reconnects).
public final class PostgresCatalog: Catalog {
    public let location: PostgresLocation
    let pool: PostgresPool
    var client: PostgresClient { pool.current }
    let logger: Logger
    private let readiness: ReadinessGate
    private let listener: Task<Void, Never>
    let notifications = NotificationCounter()

    /// The schema this build writes; a newer one in the database is refused.
    public static let schemaVersion = 3
    static let channel = "sitesync_work"

    /// Opens the catalog at `url`; `create` creates the schema in an empty database (`sitesync init`).
    public init(url: String, create: Bool, logger: Logger = Logger(label: "sitesync.catalog")) throws {
        let location = try PostgresLocation(url)
        self.location = location
        self.logger = logger
        let pool = PostgresPool(configuration: try location.configuration(), logger: logger)
        self.pool = pool
        readiness = ReadinessGate { [location] in
            try await Self.withDeadline(location.connectTimeout, what: "reach \(location)") {
                try await Self.prepare(pool.current, create: create, location: location, logger: logger)
            }
        }
        let counter = notifications
        listener = Task { await Self.listen(pool, location: location, counter: counter, logger: logger) }
    }

    deinit {
        listener.cancel()
        pool.close()
    }

    /// Stops the connections (a server shutting down).
    public func close() {
        listener.cancel()
        pool.close()
    }

    /// How long one catalog call may take before the pool is judged stuck (a restarted database).
    static let callDeadline: Double = 30

    /// Runs one call on the current pool with a deadline; a call that could not reach the database, or missed
    /// its deadline, gets the pool replaced so the next call starts on fresh connections.
    func call<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await Self.withDeadline(Self.callDeadline, what: "get an answer from \(location)") { try await body(client) }
        } catch {
            let wrapped = Self.wrap(error, location)
            if case CatalogError.unavailable(let why)? = wrapped as? CatalogError { pool.replace(client, because: why) }
            throw wrapped
        }
    }

    // MARK: Running queries

    /// Waits until the database answered and the schema is there; every call goes through it.
    func ready() async throws {
        do { try await readiness.wait() } catch { throw Self.wrap(error, location) }
    }

    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await ready()
        let logger = self.logger
        return try await call { client in
            var out: [PostgresRandomAccessRow] = []
            for try await row in try await client.query(query, logger: logger) { out.append(row.makeRandomAccess()) }
            return out
        }
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// Runs `body` in one transaction; a serialization failure or deadlock is retried (it is another writer's
    /// moment, not an error).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await ready()
        var attempt = 0
        while true {
            attempt += 1
            do {
                let logger = self.logger
                return try await call { client in try await client.withTransaction(logger: logger) { connection in try await body(connection) } }
            } catch CatalogError.busy(let why) where attempt < 5 {
                // A serialization failure or deadlock: another writer's moment.
                logger.debug("catalog transaction retried: \(why)")
                try await Task.sleep(nanoseconds: UInt64(attempt) * 20_000_000)
            }
        }
    }

    /// The error that made a transaction fail (postgres-nio wraps it with the transaction's own bookkeeping).
    static func cause(_ error: any Error) -> any Error {
        guard let t = error as? PostgresTransactionError else { return error }
        return t.closureError ?? t.beginError ?? t.commitError ?? t.rollbackError ?? error
    }

    /// A catalog error that says whether a retry can help.
    static func wrap(_ error: any Error, _ location: PostgresLocation) -> any Error {
        let error = cause(error)
        if error is CatalogError || error is CancellationError { return error }
        if let e = error as? PSQLError {
            let state = e.serverInfo?[.sqlState] ?? ""
            let message = e.serverInfo?[.message] ?? "\(e.code)"
            switch state {
            case "40001", "40P01", "55P03": return CatalogError.busy(message)
            case "57P01", "57P02", "57P03", "08000", "08003", "08006": return CatalogError.unavailable("\(location): \(message)")
            case "28P01", "28000": return CatalogError.refused("\(location): authentication failed for user \(location.user) (\(message)); check the password in the URL, PGPASSWORD or ~/.pgpass")
            case "42501": return CatalogError.refused("\(location): user \(location.user) may not create or change the catalog's tables (\(message)); make it the database's owner: ALTER DATABASE \(location.database) OWNER TO \(location.user) (or createdb --owner \(location.user) \(location.database))")
            case "3D000": return CatalogError.notInitialized("\(location): database '\(location.database)' does not exist; create it (createdb \(location.database)) and run `sitesync init`")
            case "": break
            default: return CatalogError.storage(message)
            }
            if let tls = Self.tlsProblem(e) {
                return CatalogError.refused("\(location): the TLS handshake failed: \(tls); check that sslrootcert is the CA that signed the server's certificate and that the certificate names \(location.host)")
            }
            switch e.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                return CatalogError.unavailable("cannot reach \(location) (\(Self.reason(e))); is the database running and the address right?")
            case .authMechanismRequiresPassword:
                return CatalogError.refused("\(location): the server asks user \(location.user) for a password; give it in the URL, PGPASSWORD or ~/.pgpass\(location.passwordNote.map { " (\($0))" } ?? "")")
            case .sslUnsupported:
                return CatalogError.refused("\(location): the server does not offer TLS; enable ssl on the server, or use sslmode=disable only on a trusted network")
            default:
                return CatalogError.storage("\(location): \(e.code)")
            }
        }
        return CatalogError.unavailable("\(location): \(error)")
    }

    /// What went wrong in a TLS handshake, in words (nil when the failure was not TLS's).
    static func tlsProblem(_ e: PSQLError) -> String? {
        guard let underlying = e.underlying else { return nil }
        if let inner = underlying as? PSQLError { return tlsProblem(inner) }
        let text = String(reflecting: underlying)
        guard underlying is NIOSSLError || text.contains("NIOSSL") || text.contains("BoringSSL") else { return nil }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "the server's certificate is not signed by a trusted authority"
        }
        if text.contains("hostname") || text.contains("unableToValidateCertificate") || text.contains("HOSTNAME") {
            return "the server's certificate does not name this host"
        }
        return "the server's certificate was not accepted"
    }

    /// The operating system's words for a failed connection ("Connection refused"), not the pool's structure.
    static func reason(_ e: PSQLError) -> String {
        guard let underlying = e.underlying else { return "\(e.code)" }
        if let inner = underlying as? PSQLError { return reason(inner) }
        // Only known phrases are picked out of the detailed text: it may carry more than should be shown.
        let text = String(reflecting: underlying)
        for known in ["Connection refused", "No route to host", "Network is unreachable", "timed out", "Connection reset",
                      "Name or service not known", "nodename nor servname", "No address", "Broken pipe"] where text.contains(known) {
            return known.lowercased()
        }
        if let io = underlying as? IOError { return io.description }
        return "\(e.code)"
    }

    /// Runs `body` but gives up after `seconds` (a connection attempt may ignore cancellation).
    static func withDeadline<T: Sendable>(_ seconds: Double, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await SiteSyncModel.withDeadline(seconds, late: {
            CatalogError.unavailable("could not \(what) within \(Int(seconds)) s; is the database running and the address right?")
        }, body)
    }

    /// The first contact and schema check, shared by concurrent callers; after a failure the next call tries
    /// again (a server started before its database must not stay broken).
    final class ReadinessGate: @unchecked Sendable {
        private let lock = NSLock()
        private var attempt: Task<Void, any Error>?
        private var done = false
        private let body: @Sendable () async throws -> Void

        init(_ body: @escaping @Sendable () async throws -> Void) { self.body = body }

        func wait() async throws {
            let task: Task<Void, any Error>? = lock.withLock {
                if done { return nil }
                if let attempt { return attempt }
                let body = self.body
                let fresh = Task { try await body() }
                attempt = fresh
                return fresh
            }
            guard let task else { return }
            do {
                try await task.value
                lock.withLock { done = true }
            } catch {
                lock.withLock { if attempt == task { attempt = nil } }
                throw error
            }
        }
    }

    // MARK: Wake-up across machines

    /// Counts notifications while the listening connection is up; nil while it is down (then callers poll).
    final class NotificationCounter: @unchecked Sendable {
        private let lock = NSLock()
        private var count: Int64?
        func up() { lock.withLock { count = (count ?? 0) + 1 } }
        func bump() { lock.withLock { if let c = count { count = c + 1 } } }
        func down() { lock.withLock { count = nil } }
        var value: Int64? { lock.withLock { count } }
    }

    /// Listens on a connection of its own, outside the pool: it fails fast while the database is down, and when
    /// it gets through again it tells the pool the database is back (a pool that failed meanwhile is renewed).
    static func listen(_ pool: PostgresPool, location: PostgresLocation, counter: NotificationCounter, logger: Logger) async {
        var delay: UInt64 = 200_000_000
        var id = 1_000
        while !Task.isCancelled {
            do {
                id += 1
                let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(),
                                                                      id: id, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        // (Re)connected: anything may have happened meanwhile, so count that as a change too.
                        counter.up()
                        pool.databaseIsBack()
                        delay = 200_000_000
                        for try await _ in notifications { counter.bump() }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled { logger.debug("catalog listener lost (\(Self.wrap(error, location))); polling until it is back") }
            }
            counter.down()
            try? await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 5_000_000_000)
        }
    }

    /// Makes the work counter grow and wakes every listening server (at commit). Our own counter grows now too:
    /// the writer sees its change at once, before its own notification comes back (a rolled-back bump only
    /// costs one extra look at the queue).
    func bumpGeneration(_ connection: PostgresConnection) async throws {
        notifications.bump()
        try await connection.query("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'work_generation'", logger: logger)
        try await connection.query("SELECT pg_notify('\(unescaped: Self.channel)', '')", logger: logger)
    }

    public func workGeneration() async throws -> Int64 {
        if let heard = notifications.value { return heard }
        let row = try await rows("SELECT value FROM meta WHERE key = 'work_generation'").first
        return Int64(try row?["value"].decode(String.self) ?? "0") ?? 0
    }

    /// The database's time: leases are measured by it, never by a machine's clock.
    static let databaseNow = "extract(epoch from clock_timestamp())"
}

extension PostgresRandomAccessRow {
    func date(_ column: String) throws -> Date? {
        try self[column].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
    }
}
