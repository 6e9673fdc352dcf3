import Foundation
import SiteSyncProviders
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real OpenSSH `sshd` on 127.0.0.1 and a free port, with its own config, host key and a test user,
/// started and stopped by the test that needs it.
public final class SSHServer: @unchecked Sendable {
    public static let user = "sitesynctest"
    public static let password = "Sftp-Test-123"

    public let port: Int
    public let dir: String
    /// `[127.0.0.1]:PORT ssh-ed25519 …`: a known_hosts file naming this server's key.
    public let knownHosts: String
    /// `SHA256:…` of the host key.
    public let fingerprint: String
    let hostKey: String
    var process: ChildProcess?

    public typealias Failure = TestServerFailure

    /// Starts sshd. Fails (never skips) with the package to install when a binary is missing.
    public init(hostKey existing: String? = nil, port fixedPort: Int? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") else {
            throw Failure.missing("/usr/sbin/sshd is missing: install the Debian package openssh-server (scripts/install-deps.sh test does)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen") else {
            throw Failure.missing("ssh-keygen is missing: install the Debian package openssh-client")
        }
        guard getuid() == 0 else { throw Failure.notRoot("the SFTP tests start sshd with a test user and must run as root (CI does)") }
        try Self.ensureUser()
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sshd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let existing {
            hostKey = existing
        } else {
            hostKey = "\(dir)/ssh_host_ed25519_key"
            try Self.shell("/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
        }
        port = fixedPort ?? Self.freePort()
        let keys = try UserKeys.shared()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey)
            PidFile \(dir)/sshd.pid
            AuthorizedKeysFile \(keys.authorizedKeys)
            PasswordAuthentication yes
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin no
            AllowUsers \(Self.user)
            StrictModes no
            UsePAM no
            MaxStartups 100:30:200
            MaxSessions 100
            Subsystem sftp internal-sftp
            """
        try config.write(toFile: "\(dir)/sshd_config", atomically: true, encoding: .utf8)
        let pub = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ")
        knownHosts = "\(dir)/known_hosts"
        try "[127.0.0.1]:\(port) \(pub[0]) \(pub[1])\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let fp = try Self.shell("/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f", hostKey + ".pub")
        fingerprint = String(fp.split(separator: " ")[1])
        try start()
    }

    public func start() throws {
        let p = try ChildProcess(["/usr/sbin/sshd", "-D", "-e", "-f", "\(dir)/sshd_config"], stdout: "\(dir)/sshd.log")
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.canConnect(port) { return }
            if !p.isRunning { break }
            usleep(20_000)
        }
        let why = (try? String(contentsOfFile: "\(dir)/sshd.log", encoding: .utf8)) ?? ""
        throw Failure.failed("sshd did not start on port \(port): \(why)")
    }

    /// A server started off Swift's cooperative pool: starting sshd (ssh-keygen, polling the port) blocks, and two
    /// blocked threads are the whole pool on two cores — every other test's waits would wake seconds late.
    public static func started(hostKey: String? = nil, port: Int? = nil) async throws -> SSHServer {
        try await BlockingIO.run { _ in try SSHServer(hostKey: hostKey, port: port) }
    }

    /// A server shared by a suite for the whole test process, stopped when the process exits: a static is never
    /// deinitialised, and each test run used to leave its shared sshd listeners running.
    public static func startedForProcess() async throws -> SSHServer {
        let server = try await started()
        let first = sharedRunning.withLock { list in
            list.append(server)
            return list.count == 1
        }
        if first { atexit { SSHServer.sharedRunning.withLock { $0 }.forEach { $0.stop() } } }
        return server
    }

    static let sharedRunning = Mutex<[SSHServer]>([])

    /// `start()` off the cooperative pool.
    public func restart() async throws {
        try await BlockingIO.run { [self] _ in try start() }
    }

    /// `kill()` off the cooperative pool.
    public func killAll() async {
        _ = try? await BlockingIO.run { [self] _ in kill() }
    }

    /// Kills sshd and every session process it forked (a dropped network, as the client sees it).
    public func kill() {
        guard let p = process else { return }
        // This server's session processes (children and grandchildren), then the listener: a dropped network, as
        // the client sees it. Other servers' sessions of the same test user are left alone.
        var victims: [String] = []
        var frontier = ["\(p.pid)"]
        while !frontier.isEmpty {
            let children = frontier.flatMap { parent in
                ((try? Self.shell("/usr/bin/pgrep", "-P", parent)) ?? "").split(separator: "\n").map(String.init)
            }
            victims += children
            frontier = children
        }
        for pid in victims { if let n = Int32(pid) { Glibc.kill(n, SIGKILL) } }
        p.signal(SIGKILL)
        p.wait()
        process = nil
    }

    public func stop() {
        guard let p = process else { return }
        p.signal(SIGTERM)
        p.wait()
        process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A folder the test user owns, for use as an SFTP root.
    public func makeRoot(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Self.shell("/bin/chown", "-R", Self.user, path)
    }

    static func ensureUser() throws {
        if (try? shell("/usr/bin/id", "-u", user)) != nil { return }
        _ = try? shell("/usr/sbin/useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", user)
        guard (try? shell("/usr/bin/id", "-u", user)) != nil else { throw Failure.failed("cannot create the test user \(user)") }
        try shell("/bin/sh", "-c", "echo '\(user):\(password)' | /usr/sbin/chpasswd")
    }

    /// A port for a server about to bind it (`FreePorts`; see `ClosedPort` for one that stays reserved).
    public static func freePort() -> Int { FreePorts.one() }

    public static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return Loopback.connect(fd, port)
    }

    @discardableResult
    public static func shell(_ args: String...) throws -> String {
        do {
            return try ChildProcess.run(args)
        } catch {
            throw Failure.failed("\(error)")
        }
    }
}

/// Client keys of every kind the SFTP provider must accept, made once per test run.
public struct UserKeys: Sendable {
    public let dir: String
    public let authorizedKeys: String
    public static let passphrase = "secret pass"
    /// name → private key file
    public let files: [String: String]

    nonisolated(unsafe) static var cached: UserKeys?
    static let lock = NSLock()

    public static func shared() throws -> UserKeys {
        try lock.withLock {
            if let cached { return cached }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sitesync-keys-\(getpid())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let specs: [(String, [String])] = [
                ("ed25519", ["-t", "ed25519", "-N", ""]),
                ("ed25519_pass", ["-t", "ed25519", "-N", passphrase]),
                ("ecdsa", ["-t", "ecdsa", "-b", "256", "-N", ""]),
                ("rsa_pem", ["-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM"]),
                ("rsa_openssh_pass", ["-t", "rsa", "-b", "2048", "-N", passphrase]),
            ]
            var files: [String: String] = [:]
            var authorized = ""
            for (name, args) in specs {
                let path = "\(dir)/id_\(name)"
                if !FileManager.default.fileExists(atPath: path) {
                    _ = try ChildProcess.run(["/usr/bin/ssh-keygen", "-q"] + args + ["-f", path])
                }
                files[name] = path
                authorized += try String(contentsOfFile: path + ".pub", encoding: .utf8)
            }
            try authorized.write(toFile: "\(dir)/authorized_keys", atomically: true, encoding: .utf8)
            chmod("\(dir)/authorized_keys", 0o644)
            chmod(dir, 0o755)
            let keys = UserKeys(dir: dir, authorizedKeys: "\(dir)/authorized_keys", files: files)
            cached = keys
            return keys
        }
    }
}
