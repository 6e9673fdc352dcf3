import Foundation
import Synchronization
import SiteSyncCatalog
@testable import SiteSyncCatalogPostgres
import SiteSyncCatalogSQLite
import SiteSyncProviders
import SiteSyncModel
import SiteSyncTestSupport
import Testing

/// One PostgreSQL for the catalog tests of this process; each test gets its own database.
/// One server for the whole test process, started once (off the cooperative pool) and stopped at exit.
enum SharedPostgres {
    static let starting = Task<PostgresServer, any Error> {
        let server = try await PostgresServer.started()
        running.withLock { $0 = server }
        // A static is never deinitialised: stop the server when the test process ends.
        atexit {
            guard let server = SharedPostgres.running.withLock({ $0 }) else { return }
            server.stop(immediate: true)
            try? FileManager.default.removeItem(atPath: server.dir)
        }
        return server
    }
    static let running = Mutex<PostgresServer?>(nil)

    /// A new database on the shared server.
    static func database() async throws -> String {
        try await starting.value.newDatabase()
    }
}

@Suite("PostgreSQL catalog")
struct PostgresCatalogTests {
    @Test("conformance", arguments: CatalogConformance.names)
    func conformance(_ name: String) async throws {
        let url = try await SharedPostgres.database()
        let catalog = try PostgresCatalog(url: url, create: true)
        try await CatalogConformance.run(name, on: catalog)
    }

    @Test("conformance with several connections", arguments: CatalogConformance.sharedNames)
    func shared(_ name: String) async throws {
        let url = try await SharedPostgres.database()
        _ = try await PostgresCatalog(url: url, create: true).projects()
        try await CatalogConformance.runShared(name) { try PostgresCatalog(url: url, create: false) }
    }

    @Test("leases are timed by the database's clock: a machine an hour ahead takes nobody's lease")
    func skewedClocks() async throws {
        let url = try await SharedPostgres.database()
        _ = try await PostgresCatalog(url: url, create: true).projects()
        try await CatalogConformance.skewedClocks { try PostgresCatalog(url: url, create: false) }
    }

    @Test("a database that refuses the connection is a clear error; a missing schema says to run init")
    func unreachable() async throws {
        let closed = try ClosedPort()   // held: no server another test starts can take the port meanwhile
        let catalog = try PostgresCatalog(url: "postgres://nobody@127.0.0.1:\(closed.port)/none", create: false)
        do {
            _ = try await catalog.projects()
            Issue.record("a database that does not answer cannot list projects")
        } catch let e as CatalogError {
            #expect(e.errorKind == .unavailable && "\(e)".contains("is the database running"), "\(e)")
        }
        let url = try await SharedPostgres.database()
        do {
            _ = try await PostgresCatalog(url: url, create: false).projects()
            Issue.record("an empty database must be refused without init")
        } catch let e as CatalogError {
            #expect(e.errorKind == .notFound && "\(e)".contains("sitesync init"), "\(e)")
        }
    }

    @Test("a catalog upgraded by a newer sitesync is refused, with the fix")
    func newerSchema() async throws {
        let url = try await SharedPostgres.database()
        _ = try await PostgresCatalog(url: url, create: true).projects()
        _ = try await BlockingIO.run { _ in
            try ChildProcess.run(["/usr/bin/psql", url, "-qtAc", "UPDATE meta SET value = '99' WHERE key = 'schema_version'"])
        }
        do {
            _ = try await PostgresCatalog(url: url, create: false).projects()
            Issue.record("a newer schema must be refused")
        } catch {
            #expect("\(error)".contains("upgraded by a newer sitesync") && "\(error)".contains("upgrade sitesync on this machine"), "\(error)")
        }
        let report = try? await PostgresCatalog(url: url, create: false).report(now: Date())
        #expect(report == nil)
    }

    @Test("the URL: password from the URL, PGPASSWORD or ~/.pgpass, never shown")
    func location() throws {
        let l = try PostgresLocation("postgres://sync:s3cret@db.studio:6543/catalog?sslmode=verify-full", environment: [:])
        #expect(l.description == "postgres://sync:***@db.studio:6543/catalog?sslmode=verify-full")
        #expect(!l.description.contains("s3cret"))
        let dir = try TemporaryDirectory("pgpass")
        try "# comment\n*:*:other:sync:nope\ndb.studio:5432:catalog:sync:fromfile\n".write(toFile: "\(dir.path)/.pgpass", atomically: true, encoding: .utf8)
        chmod("\(dir.path)/.pgpass", 0o600)
        let fromFile = try PostgresLocation("postgres://sync@db.studio/catalog", environment: ["HOME": dir.path])
        #expect(fromFile.description == "postgres://sync:***@db.studio:5432/catalog")
        let fromEnv = try PostgresLocation("postgres://sync@db.studio/catalog", environment: ["PGPASSWORD": "env"])
        #expect(fromEnv.description.contains(":***@"))
        #expect(throws: SiteSyncError.self) { try PostgresLocation("postgres://sync@db.studio/catalog?sslmode=sometimes", environment: [:]) }
        // libpq's connect_timeout: how long first contact may take (a slow VPN); default 10 s.
        #expect(try PostgresLocation("postgres://sync@db.studio/catalog?connect_timeout=45", environment: [:]).connectTimeout == 45)
        #expect(try PostgresLocation("postgres://sync@db.studio/catalog", environment: [:]).connectTimeout == 10)
        #expect(throws: SiteSyncError.self) { try PostgresLocation("postgres://sync@db.studio/catalog?connect_timeout=soon", environment: [:]) }
        #expect(throws: SiteSyncError.self) { try PostgresLocation("postgres://db.studio/catalog", environment: [:]) }
        #expect(PostgresLocation.redact("postgres://a:b@h/d") == "postgres://a:***@h/d")
        // A password is never shown, however the URL is written.
        for (url, secret) in [("postgres://odd:top@secret@127.0.0.1:notaport/db", "secret"), ("postgres:/odd:topsecret@127.0.0.1/db", "topsecret"),
                              ("odd:topsecret@host/db", "topsecret"), ("postgres://odd:ss:w/rd%1#x@h/db", "rd%1")] {
            #expect(!SecretText.redactingPassword(url).contains(secret), "\(SecretText.redactingPassword(url))")
            do {
                _ = try PostgresLocation(url, environment: [:])
            } catch {
                #expect(!"\(error)".contains(secret), "\(error)")
                #expect(ErrorKind.of(error) == .invalidInput, "\(error)")
            }
        }
        #expect(SecretText.looksLikeMalformedURL("postgres:/odd:pw@h/db") && SecretText.looksLikeMalformedURL("odd:pw@h/db"))
        #expect(!SecretText.looksLikeMalformedURL("/srv/catalog.sqlite") && !SecretText.looksLikeMalformedURL("C:/catalog.sqlite"))
        // `%25` is a percent sign; the scheme is read case-insensitively; the port must be one.
        #expect(try PostgresLocation("postgres://u:p%25ss@h/db", environment: [:]).password == "p%ss")
        #expect(try PostgresLocation("Postgres://u@h/db", environment: [:]).sslMode == .prefer)
        #expect(throws: SiteSyncError.self) { try PostgresLocation("postgres://u@h:99999/db", environment: [:]) }
        #expect(throws: SiteSyncError.self) { try PostgresLocation("postgres://u@h/db?sslrootcert=/ca.pem", environment: [:]) }
        // A ~/.pgpass other users can read is ignored, as libpq ignores it, and the refusal will say why.
        let open = try TemporaryDirectory("pgpass-open")
        try "*:*:*:sync:leaked\n".write(toFile: "\(open.path)/.pgpass", atomically: true, encoding: .utf8)
        chmod("\(open.path)/.pgpass", 0o644)
        let ignored = try PostgresLocation("postgres://sync@db.studio/catalog", environment: ["HOME": open.path])
        #expect(ignored.password == nil && ignored.passwordNote?.contains("chmod 600") == true)
    }
}

@Suite("SQLite catalog with several connections")
struct SQLiteSharedTests {
    @Test("conformance with several connections", arguments: CatalogConformance.sharedNames)
    func shared(_ name: String) async throws {
        let dir = try TemporaryDirectory("catalog")
        let path = "\(dir.path)/catalog.sqlite"
        _ = try SQLiteCatalog(path: path)
        try await CatalogConformance.runShared(name) { try SQLiteCatalog(path: path, create: false) }
    }
}

/// The deadline promise, measured on a machine not busy with other tests (run after them, by `scripts/test.sh`):
/// in the parallel run, tests building fixtures on Swift's two cooperative threads delay every timer by seconds.
@Suite("PostgreSQL catalog timing (run alone)", .serialized)
struct PostgresCatalogTimingAloneTests {
    @Test("a database that accepts the connection and never answers is a clear error once its connect_timeout passes")
    func silentDatabase() async throws {
        let silent = try ClosedPort(silent: true)
        let started = Date()
        let catalog = try PostgresCatalog(url: "postgres://nobody@127.0.0.1:\(silent.port)/none?connect_timeout=2", create: false)
        do {
            _ = try await catalog.projects()
            Issue.record("a database that never answers cannot list projects")
        } catch let e as CatalogError {
            #expect(e.errorKind == .unavailable && "\(e)".contains("within 2 s") && "\(e)".contains("is the database running"), "\(e)")
        }
        let took = Date().timeIntervalSince(started)
        #expect(took >= 1.9 && took < 5, "took \(took) s")
    }
}
