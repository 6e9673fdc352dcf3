import Crypto
import Foundation
import SiteSyncModel

/// Who may do what over HTTP. Without tokens the listener only accepts a loopback address (the person at this
/// machine); with them, every request carries `Authorization: Bearer …`: the read token views, the full token
/// also acts. Tokens are compared in constant time and never logged.
public struct APITokens: Sendable {
    public enum Access: Sendable, Comparable { case read, full }

    let full: String?
    let read: String?

    public init(full: String?, read: String?) {
        self.full = full?.isEmpty == true ? nil : full
        self.read = read?.isEmpty == true ? nil : read
    }

    public static let none = APITokens(full: nil, read: nil)
    public var required: Bool { full != nil || read != nil }

    /// A token file: `full: TOKEN` and/or `read: TOKEN`, one per line (`#` comments). `SITESYNC_API_TOKEN`, when
    /// set, is the full token.
    public static func load(file: String?, environment: [String: String]) throws -> APITokens {
        var full = environment["SITESYNC_API_TOKEN"]
        var read: String?
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw SiteSyncError(.invalidInput, "--token-file \(file): cannot read it; write `full: TOKEN` and `read: TOKEN` lines (e.g. from `openssl rand -hex 32`)")
            }
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, ["full", "read"].contains(parts[0]), parts[1].count >= 16 else {
                    throw SiteSyncError(.invalidInput, "--token-file \(file), line \(n + 1): write `full: TOKEN` or `read: TOKEN`, a token of 16 characters or more")
                }
                if parts[0] == "full" { full = parts[1] } else { read = parts[1] }
            }
        }
        if let full, let read, full == read {
            throw SiteSyncError(.invalidInput, "the read and the full token are the same; give them different values")
        }
        return APITokens(full: full, read: read)
    }

    /// The access a request's `Authorization` header grants; nil when it grants none.
    public func access(authorization: String?) -> Access? {
        guard required else { return .full }
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let given = String(authorization.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        if let full, Self.same(given, full) { return .full }
        if let read, Self.same(given, read) { return .read }
        return nil
    }

    /// Constant-time: both sides hashed, then every byte compared.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(SHA256.hash(data: Data(a.utf8))), y = Array(SHA256.hash(data: Data(b.utf8)))
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Whether `host` is this machine only.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
