import Foundation
import SiteSyncModel
import SiteSyncProviders

/// An `sftp` site's connection settings, checked before anything connects.
public struct SFTPSettings: Sendable {
    public enum Authentication: Sendable {
        case password(String)
        case key(file: String, passphrase: String?)
    }

    public var site: String
    public var host: String
    public var port: Int
    public var user: String
    public var authentication: Authentication
    /// A known_hosts file that must list the server's key.
    public var knownHosts: String?
    /// `SHA256:…` the server's key must have.
    public var hostKeyFingerprint: String?
    public var roots: [String: String]
    public var connectTimeout: Int
    public var bytesPerSecond: Int64?
    /// Connections a large upload is spread over (see `SFTPProvider.streamedUpload`).
    public var streams: Int

    /// The keys of an `sftp` site.
    public static let schema = ProviderSchema(provider: SFTPProvider.name, options: [
        OptionSpec("host", .text, required: true, help: "the server's name or address"),
        OptionSpec("port", .integer, default: "22", range: 1...65535, help: "the server's SSH port"),
        OptionSpec("user", .text, required: true, help: "the account to log in as"),
        OptionSpec("key_file", .path, help: "a private key: ed25519, ECDSA or RSA, OpenSSH or PEM format"),
        OptionSpec("key_passphrase", .text, secret: true, help: "the passphrase of key_file, if it has one"),
        OptionSpec("password", .text, secret: true, help: "the account's password, instead of key_file"),
        OptionSpec("known_hosts", .path, help: "a known_hosts file that must list the server (default ~/.ssh/known_hosts)"),
        OptionSpec("host_key_fingerprint", .text, help: "the server key's SHA256:… fingerprint, as `sitesync site check` prints it"),
        OptionSpec("connect_timeout", .integer, default: "15", range: 1...3600, help: "seconds to wait for the server"),
        OptionSpec("streams", .integer, default: "8", range: 1...16,
                   help: "the most connections one upload or download of 32 MiB or more is spread over; fewer on a short round trip (1: one)"),
    ], exactlyOneOf: [["password", "key_file"]])

    public init(site config: SiteConfig, platform: Platform) throws {
        func fail(_ key: String, _ problem: String) -> ProviderError {
            ProviderError(.configuration, "sites.\(config.name).\(key): \(problem)")
        }
        let text = config.optionText
        site = config.name
        guard let host = text("host") else { throw fail("host", "an sftp site needs `host` (the server's name or address)") }
        self.host = host
        guard let user = text("user") else { throw fail("user", "an sftp site needs `user` (the account to log in as)") }
        self.user = user
        if let p = text("port") {
            guard let n = Int(p), (1...65535).contains(n) else { throw fail("port", "'\(p)' is not a port number (1-65535)") }
            port = n
        } else {
            port = 22
        }
        switch (text("password"), text("key_file")) {
        case (_?, _?):
            throw fail("password", "give either `password` or `key_file`, not both")
        case (nil, nil):
            throw fail("key_file", "an sftp site needs `key_file` (a private key) or `password`")
        case (let password?, nil):
            authentication = .password(password)
        case (nil, let key?):
            authentication = .key(file: key, passphrase: text("key_passphrase"))
        }
        knownHosts = text("known_hosts")
        hostKeyFingerprint = text("host_key_fingerprint")
        if let fp = hostKeyFingerprint, !fp.hasPrefix("SHA256:") {
            throw fail("host_key_fingerprint", "write it as OpenSSH prints it: SHA256:… (see `sitesync site check \(config.name)`)")
        }
        roots = config.rootPaths(on: platform)
        for (name, root) in roots where !root.hasPrefix("/") {
            throw fail("roots.\(name)", "'\(root)' must be an absolute path on the server, like /upload")
        }
        connectTimeout = text("connect_timeout").flatMap(Int.init) ?? 15
        if let n = text("streams") {
            guard let streams = Int(n), (1...16).contains(streams) else {
                throw fail("streams", "'\(n)' is not a number of connections from 1 to 16")
            }
            self.streams = streams
        } else {
            streams = 8
        }
        bytesPerSecond = config.bandwidthLimit
    }

    var endpoint: String { "\(user)@\(host):\(port)" }
}
