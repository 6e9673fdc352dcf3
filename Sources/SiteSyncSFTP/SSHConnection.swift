import CLibSSH
import Foundation
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// One SSH connection with its SFTP channel. libssh is blocking and a session must not be used from two
/// threads at once, so every call runs on the connection's own serial queue.
final class SSHConnection: @unchecked Sendable {
    let settings: SFTPSettings
    private let queue: DispatchQueue
    private var session: ssh_session?
    private(set) var sftp: sftp_session?
    /// `SHA256:…` of the server's host key, and how it was verified.
    private(set) var fingerprint = ""
    private(set) var verifiedBy = ""
    /// Folders known to exist: small files in one folder do not pay a round trip each to find out.
    var knownFolders: Set<String> = []
    /// Set when an error means the connection can no longer be trusted (dropped, protocol error). Read and
    /// written from the connection's thread and from the pool, hence the lock.
    var broken: Bool {
        get { brokenLock.withLock { brokenValue } }
        set { brokenLock.withLock { brokenValue = newValue } }
    }
    private var brokenValue = false
    private let brokenLock = NSLock()

    private init(settings: SFTPSettings) {
        self.settings = settings
        queue = DispatchQueue(label: "sitesync.sftp.\(settings.site)")
    }

    deinit {
        if let sftp { sftp_free(sftp) }
        if let session {
            ssh_disconnect(session)
            ssh_free(session)
        }
    }

    /// Connects, verifies the host key, authenticates and opens SFTP; `measure`: then times two requests
    /// (`roundTrip`, the shorter).
    static func open(_ settings: SFTPSettings, measure: Bool = false) async throws -> SSHConnection {
        let connection = SSHConnection(settings: settings)
        try await connection.run { c, _ in try c.establish(measure: measure) }
        return connection
    }

    /// Runs blocking work on this connection's thread; task cancellation sets the flag `body` polls.
    func run<T: Sendable>(_ body: @escaping @Sendable (SSHConnection, CancellationFlag) throws -> T) async throws -> T {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try body(self, flag) })
                }
            }
        } onCancel: {
            flag.cancel()
        }
    }

    var sessionError: String {
        guard let session else { return "no session" }
        return String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
    }

    private func establish(measure: Bool) throws {
        guard let s = ssh_new() else { throw ProviderError(.transient, "cannot create an SSH session") }
        session = s
        var port = UInt32(settings.port)
        var nodelay: Int32 = 1   // without it each synchronous write waits ~40 ms for Nagle
        var timeout = settings.connectTimeout
        var processConfig = false  // ~/.ssh/config must not change what a site's settings say
        ssh_options_set(s, SSH_OPTIONS_HOST, settings.host)
        ssh_options_set(s, SSH_OPTIONS_PORT, &port)
        ssh_options_set(s, SSH_OPTIONS_USER, settings.user)
        ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay)
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout)
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &processConfig)
        // AES-GCM first: fastest with AES-NI; the rest of libssh's defaults follow.
        ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr")
        ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr")
        if let knownHosts = settings.knownHosts {
            ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, knownHosts)
            ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null")
        }
        guard ssh_connect(s) == SSH_OK else {
            throw ProviderError(.unavailable, "cannot connect to \(settings.host):\(settings.port) for site '\(settings.site)': \(sessionError)")
        }
        try verifyHostKey(s)
        try authenticate(s)
        guard let sftp = sftp_new(s) else {
            throw ProviderError(.transient, "\(settings.endpoint): cannot open an SFTP channel: \(sessionError)")
        }
        self.sftp = sftp
        guard sftp_init(sftp) == SSH_OK else {
            throw ProviderError(.configuration, "\(settings.endpoint): the server refused SFTP (is the sftp subsystem enabled?): \(sessionError)")
        }
        if measure { roundTrip = [measureRoundTrip(sftp), measureRoundTrip(sftp)].compactMap { $0 }.min() }
    }

    /// Seconds one request takes to be answered on this connection, when it was asked to measure it as it
    /// opened (nil otherwise, or if the requests failed): how many connections a large file is spread over
    /// depends on it.
    private(set) var roundTrip: Double?

    /// Times one cheap request (where "." is). The answer to `sftp_init` is not used: it also waits for the
    /// server to start its SFTP process.
    private func measureRoundTrip(_ sftp: sftp_session) -> Double? {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let path = sftp_canonicalize_path(sftp, ".") else { return nil }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        ssh_string_free_char(path)
        return seconds
    }

    private func verifyHostKey(_ s: ssh_session) throws {
        var key: ssh_key?
        guard ssh_get_server_publickey(s, &key) == SSH_OK, let key else {
            throw ProviderError(.transient, "\(settings.endpoint): no host key from the server: \(sessionError)")
        }
        defer { ssh_key_free(key) }
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        guard ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == 0, let hash else {
            throw ProviderError(.transient, "\(settings.endpoint): cannot hash the host key")
        }
        defer { var h: UnsafeMutablePointer<UInt8>? = hash; ssh_clean_pubkey_hash(&h) }
        fingerprint = "SHA256:" + Data(bytes: hash, count: length).base64EncodedString().replacingOccurrences(of: "=", with: "")
        let keyType = String(cString: ssh_key_type_to_char(ssh_key_type(key)))
        let target = "\(settings.host):\(settings.port)"
        let pinAdvice = "host_key_fingerprint: \"\(fingerprint)\""

        if let pinned = settings.hostKeyFingerprint {
            guard Self.normalize(pinned) == Self.normalize(fingerprint) else {
                throw ProviderError(.configuration, """
                    HOST KEY MISMATCH for \(target) (site '\(settings.site)'): the server presents \(fingerprint) (\(keyType)), \
                    but host_key_fingerprint is \(pinned). Someone may be intercepting the connection; refusing to log in. \
                    If the server's key was really replaced, update host_key_fingerprint.
                    """)
            }
            verifiedBy = "pinned host_key_fingerprint"
        }
        if settings.knownHosts != nil || settings.hostKeyFingerprint == nil {
            let file = settings.knownHosts ?? "~/.ssh/known_hosts"
            switch ssh_session_is_known_server(s) {
            case SSH_KNOWN_HOSTS_OK:
                verifiedBy = verifiedBy.isEmpty ? "known_hosts \(file)" : verifiedBy + " and known_hosts \(file)"
            case SSH_KNOWN_HOSTS_CHANGED, SSH_KNOWN_HOSTS_OTHER:
                throw ProviderError(.configuration, """
                    HOST KEY MISMATCH for \(target) (site '\(settings.site)'): the server presents \(fingerprint) (\(keyType)), \
                    which is not the key \(file) has for it. Someone may be intercepting the connection; refusing to log in. \
                    If the server's key was really replaced, remove its old line from \(file).
                    """)
            case SSH_KNOWN_HOSTS_UNKNOWN, SSH_KNOWN_HOSTS_NOT_FOUND:
                throw ProviderError(.configuration, """
                    the host key of \(target) (site '\(settings.site)') is not known: it presents \(fingerprint) (\(keyType)). \
                    If that is your server, pin it in the site's settings with \(pinAdvice) \
                    (or add it to \(file): ssh-keyscan -p \(settings.port) \(settings.host) >> \(file)).
                    """)
            default:
                throw ProviderError(.configuration, "cannot check the host key of \(target) against \(file): \(sessionError)")
            }
        }
    }

    static func normalize(_ fingerprint: String) -> String {
        var f = fingerprint.trimmingCharacters(in: .whitespaces)
        if f.hasPrefix("SHA256:") { f.removeFirst(7) }
        while f.hasSuffix("=") { f.removeLast() }
        return f
    }

    private func authenticate(_ s: ssh_session) throws {
        switch settings.authentication {
        case .password(let password):
            let rc = ssh_userauth_password(s, nil, password)
            guard rc == SSH_AUTH_SUCCESS.rawValue else {
                throw ProviderError(.configuration,
                    "\(settings.endpoint) (site '\(settings.site)') refused the password: check `user` and `password`")
            }
        case .key(let file, let passphrase):
            let key = try Self.loadKey(file, passphrase: passphrase, site: settings.site)
            defer { ssh_key_free(key) }
            let rc = ssh_userauth_publickey(s, nil, key)
            guard rc == SSH_AUTH_SUCCESS.rawValue else {
                throw ProviderError(.configuration,
                    "\(settings.endpoint) (site '\(settings.site)') refused the key \(file): is its public half in the user's authorized_keys?")
            }
        }
    }

    static func loadKey(_ file: String, passphrase: String?, site: String) throws -> ssh_key {
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw ProviderError(.configuration, "sites.\(site).key_file: cannot read \(file) (missing, or not readable by this user)")
        }
        let head = String(decoding: handle.readData(ofLength: 64), as: UTF8.self)
        try? handle.close()
        if head.hasPrefix("PuTTY-User-Key-File") {
            throw ProviderError(.configuration, """
                sites.\(site).key_file: \(file) is a PuTTY key (.ppk), which SiteSync cannot read. Convert it to OpenSSH format: \
                `puttygen \(file) -O private-openssh -o \(file).openssh` (or in PuTTYgen: Load, then Conversions → \
                Export OpenSSH key) and point key_file at the result.
                """)
        }
        var key: ssh_key?
        let rc = ssh_pki_import_privkey_file(file, passphrase, nil, nil, &key)
        guard rc == SSH_OK, let key else {
            let why = passphrase == nil
                ? "it may need a key_passphrase, or not be a private key in OpenSSH or PEM format"
                : "the key_passphrase may be wrong, or it is not a private key in OpenSSH or PEM format"
            throw ProviderError(.configuration, "sites.\(site).key_file: cannot load \(file): \(why)")
        }
        return key
    }

    // MARK: SFTP operations (call only inside `run`)

    func error(_ what: String, _ path: String) -> ProviderError {
        let code = sftp.map { sftp_get_error($0) } ?? -1
        switch code {
        case SSH_FX_NO_SUCH_FILE:
            return ProviderError(.notFound, "\(what) \(path) on site '\(settings.site)': no such file")
        case SSH_FX_PERMISSION_DENIED:
            return ProviderError(.configuration, "\(what) \(path) on site '\(settings.site)': permission denied for \(settings.user)")
        default:
            if let session, ssh_is_connected(session) == 0 {
                broken = true
                return ProviderError(.unavailable, "\(what) \(path) on site '\(settings.site)': connection lost")
            }
            if code != SSH_FX_FAILURE && code != SSH_FX_FILE_ALREADY_EXISTS { broken = true }
            return ProviderError(.transient, "\(what) \(path) on site '\(settings.site)': \(sessionError) (sftp status \(code))")
        }
    }

    struct Attributes {
        var size: Int64
        var modified: Date
        var isDirectory: Bool
    }

    func stat(_ path: String) throws -> Attributes? {
        guard let sftp else { throw ProviderError(.unavailable, "not connected") }
        guard let attributes = sftp_stat(sftp, path) else {
            if sftp_get_error(sftp) == SSH_FX_NO_SUCH_FILE { return nil }
            throw error("cannot stat", path)
        }
        defer { sftp_attributes_free(attributes) }
        let a = attributes.pointee
        return Attributes(size: Int64(a.size), modified: Date(timeIntervalSince1970: Double(a.mtime)),
                          isDirectory: a.type == UInt8(SSH_FILEXFER_TYPE_DIRECTORY))
    }

    /// `mkdir -p`; tolerates another connection creating the same folder at the same time.
    /// Creates `path` and its parents below `root` (never `root` itself, nor anything above it).
    func createFolders(_ path: String, below root: String?) throws {
        guard let sftp else { throw ProviderError(.unavailable, "not connected") }
        if knownFolders.contains(path) { return }
        let base = root.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 } ?? ""
        guard base.isEmpty || path == base || path.hasPrefix(base == "/" ? "/" : base + "/") else {
            throw ProviderError(.configuration, "\(path) is not inside the site root \(base)")
        }
        var current = base == "/" ? "" : base
        for part in path.dropFirst(base.count).split(separator: "/") {
            current += "/" + part
            if knownFolders.contains(current) { continue }
            if let a = try stat(current) {
                guard a.isDirectory else {
                    throw ProviderError(.configuration, "\(current) on site '\(settings.site)' is a file, not a folder")
                }
            } else if sftp_mkdir(sftp, current, 0o755) != SSH_OK {
                guard try stat(current)?.isDirectory == true else { throw error("cannot create folder", current) }
            }
            knownFolders.insert(current)
        }
    }

    func unlink(_ path: String) throws {
        guard let sftp else { throw ProviderError(.unavailable, "not connected") }
        if sftp_unlink(sftp, path) != SSH_OK && sftp_get_error(sftp) != SSH_FX_NO_SUCH_FILE {
            throw error("cannot delete", path)
        }
    }

    /// Renames a finished temporary file into place. A file already at `to` is moved to a conflict name first,
    /// never deleted (SFTP v3 `rename` refuses an existing target anyway, and libssh 0.10 cannot send the
    /// posix-rename extension); the final name may be briefly absent, but never holds a partial file.
    /// Returns the conflict name, if a file was moved aside.
    func place(_ from: String, at to: String) throws -> String? {
        guard let sftp else { throw ProviderError(.unavailable, "not connected") }
        if sftp_rename(sftp, from, to) == SSH_OK { return nil }
        guard try stat(to) != nil else { throw error("cannot rename into place", to) }
        var aside = LocalFiles.conflictName(for: to)
        var n = 1
        while try stat(aside) != nil {
            n += 1
            aside = LocalFiles.conflictName(for: to) + "-\(n)"
        }
        guard sftp_rename(sftp, to, aside) == SSH_OK else { throw error("cannot move aside", to) }
        guard sftp_rename(sftp, from, to) == SSH_OK else {
            let failure = error("cannot rename into place", to)
            _ = sftp_rename(sftp, aside, to)
            throw failure
        }
        return aside
    }

    func removeEmptyFolders(from start: String, upTo root: String?) {
        guard let sftp, let root else { return }
        let stop = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        var dir = start
        while dir.hasPrefix(stop + "/") && dir != stop {
            guard sftp_rmdir(sftp, dir) == SSH_OK else { return }
            knownFolders.remove(dir)
            dir = (dir as NSString).deletingLastPathComponent
        }
    }
}
