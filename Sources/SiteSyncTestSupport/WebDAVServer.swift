import Foundation
import Synchronization
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// A WebDAV server on 127.0.0.1 for the external provider examples: wsgidav (PyPI) from the project's test venv,
/// with one user and a password, serving a folder of its own. Started on a free port, stopped with the value.
public final class WebDAVServer: @unchecked Sendable {
    public let port: Int
    public let root: String
    public let user = "artist"
    public let password = "dav-secret-\(UUID().uuidString.prefix(6))"
    private let dir: String
    private var process: ChildProcess?

    public var url: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dav-\(UUID().uuidString.prefix(8))").path
        root = dir + "/files"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let wsgidav = "\(S3Server.venv)/bin/wsgidav"
        guard FileManager.default.isExecutableFile(atPath: wsgidav) else {
            throw TestServerFailure.missing("\(wsgidav) is missing: run scripts/install-deps.sh test (it installs the PyPI packages wsgidav and cheroot into .venv-test)")
        }
        port = SSHServer.freePort()
        // JSON is YAML: the configuration needs no YAML writer.
        let config = """
            {"host": "127.0.0.1", "port": \(port), "verbose": 1, "logging": {"enable_loggers": []},
             "provider_mapping": {"/": "\(root)"},
             "http_authenticator": {"accept_basic": true, "accept_digest": false, "default_to_digest": false},
             "simple_dc": {"user_mapping": {"*": {"\(user)": {"password": "\(password)"}}}},
             "dir_browser": {"enable": false}, "lock_storage": true}
            """
        try config.write(toFile: dir + "/wsgidav.yaml", atomically: true, encoding: .utf8)
        let log = dir + "/server.log"
        process = try ChildProcess([wsgidav, "--config", dir + "/wsgidav.yaml"], stdout: log)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let p = process, !p.isRunning {
                throw TestServerFailure.failed("wsgidav exited at start: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? "")")
            }
            if SSHServer.canConnect(port) { return }
            usleep(100_000)
        }
        stop()
        throw TestServerFailure.failed("wsgidav did not listen on 127.0.0.1:\(port) within 30 s: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? "")")
    }

    /// Starts a server off Swift's cooperative pool.
    public static func started() async throws -> WebDAVServer {
        try await BlockingIO.run { _ in try WebDAVServer() }
    }

    /// One server for the whole test process (each test works in a folder of its own), stopped at exit.
    public static func shared() async throws -> WebDAVServer {
        try await sharedServer.value
    }

    static let sharedServer = Task<WebDAVServer, any Error> {
        let server = try await started()
        sharedRunning.withLock { $0 = server }
        atexit { WebDAVServer.sharedRunning.withLock { $0 }?.stop() }
        return server
    }
    static let sharedRunning = Mutex<WebDAVServer?>(nil)

    public func stop() {
        guard let p = process else { return }
        process = nil
        p.signal(SIGTERM)
        for _ in 0..<20 where p.isRunning { usleep(100_000) }
        if p.isRunning { p.signal(SIGKILL) }
        p.wait()
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}
