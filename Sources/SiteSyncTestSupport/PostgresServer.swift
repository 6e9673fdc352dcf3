import Foundation
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL on 127.0.0.1 and a free port, in a temporary data folder, run as the `postgres` user
/// (PostgreSQL refuses root), started and stopped by the test that needs it.
public final class PostgresServer: @unchecked Sendable {
    /// The newest installed server (Debian installs it under its major version).
    public static let bin: String = {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        return "/usr/lib/postgresql/\(versions.last ?? 15)/bin"
    }()
    public private(set) var port: Int
    public let dir: String
    private var running = false

    public typealias Failure = TestServerFailure

    /// Starts the server; fails (never skips) with the package to install when PostgreSQL is missing.
    public init() throws {
        guard FileManager.default.isExecutableFile(atPath: "\(Self.bin)/initdb") else {
            throw Failure.missing("\(Self.bin)/initdb is missing: install the Debian package postgresql (scripts/install-deps.sh test does)")
        }
        guard getuid() == 0 else { throw Failure.failed("the PostgreSQL tests start the server as the postgres user and must run as root (CI does)") }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try Self.run("/bin/chown", "postgres:postgres", dir)
        port = SSHServer.freePort()
        _ = try Self.asPostgres("\(Self.bin)/initdb", "-D", "\(dir)/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        // A port found free can be taken before the server binds it (another test's server, or the local port of
        // a client's connection: a fresh-clone CI run lost every PostgreSQL test to one such start). A new port
        // then; a restart keeps its port, since catalogs' URLs name it.
        var attempt = 1
        while true {
            do {
                try start()
                break
            } catch {
                guard attempt < 3, Self.portTaken(log: "\(dir)/server.log") else { throw error }
                attempt += 1
                port = SSHServer.freePort()
            }
        }
    }

    /// Whether the last start failed because its port was in use.
    static func portTaken(log: String) -> Bool {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("Address already in use")
    }

    /// Starts a server from async code: initdb and pg_ctl block for seconds, so they run on a blocking-I/O thread,
    /// never on Swift's cooperative pool (with two cores, two blocked pool threads stall every other test).
    public static func started() async throws -> PostgresServer {
        try await BlockingIO.run { _ in try PostgresServer() }
    }

    /// `start()` off the cooperative pool.
    public func restart() async throws {
        try await BlockingIO.run { [self] _ in try start() }
    }

    /// `database()` off the cooperative pool.
    public func newDatabase() async throws -> String {
        try await BlockingIO.run { [self] _ in try database() }
    }

    /// `stop()` off the cooperative pool.
    public func halt(immediate: Bool = false) async {
        _ = try? await BlockingIO.run { [self] _ in stop(immediate: immediate) }
    }

    /// Starts the server; a failure says the end of the server's log (which goes with the test's folder).
    public func start() throws {
        do {
            _ = try Self.asPostgres("\(Self.bin)/pg_ctl", "-D", "\(dir)/data", "-l", "\(dir)/server.log", "-w", "-s",
                                    "-o", "-c listen_addresses=127.0.0.1 -p \(port) -k \(dir) -c fsync=off -c max_connections=200", "start")
        } catch {
            let log = (try? String(contentsOfFile: "\(dir)/server.log", encoding: .utf8)) ?? ""
            throw Failure.failed("\(error); the end of server.log: \(log.split(separator: "\n").suffix(5).joined(separator: " | "))")
        }
        running = true
    }

    /// Stops the server now (`immediate`: like a crash, no clean shutdown).
    public func stop(immediate: Bool = false) {
        guard running else { return }
        _ = try? Self.asPostgres("\(Self.bin)/pg_ctl", "-D", "\(dir)/data", "-m", immediate ? "immediate" : "fast", "-w", "-s", "stop")
        running = false
    }

    /// Creates a database and returns its catalog URL.
    public func database(_ name: String = "sitesync_\(UUID().uuidString.prefix(8).lowercased())") throws -> String {
        _ = try Self.asPostgres("/usr/bin/psql", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres",
                                "-qtAc", "CREATE DATABASE \(name)")
        // Two loaded cores creating a schema in dozens of databases at once can take longer than the default 10 s.
        return "postgres://postgres@127.0.0.1:\(port)/\(name)?connect_timeout=120"
    }

    deinit {
        stop(immediate: true)
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func asPostgres(_ args: String...) throws -> String {
        try run(["/usr/sbin/runuser", "-u", "postgres", "--"] + args)
    }

    static func run(_ args: String...) throws -> String { try run(args) }

    static func run(_ args: [String]) throws -> String {
        do {
            return try ChildProcess.run(args)
        } catch {
            throw Failure.failed("\(args.joined(separator: " ")): \(error)")
        }
    }
}
