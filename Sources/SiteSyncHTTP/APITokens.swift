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
        var full = environment["SITESYNC_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let token = full, token.count < 16 {
            throw SiteSyncError(.invalidInput, "SITESYNC_API_TOKEN is \(token.count) characters: give a token of 16 or more (e.g. `openssl rand -hex 32`)")
        }
        var read: String?
        var fromFile = full != nil ? ["SITESYNC_API_TOKEN"] : []
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw SiteSyncError(.invalidInput, "--token-file \(file): cannot read it; write `full: TOKEN` and `read: TOKEN` lines (e.g. from `openssl rand -hex 32`)")
            }
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                // A `#` after whitespace starts a comment (tokens hold no spaces).
                var line = raw.trimmingCharacters(in: .whitespaces)
                if let hash = line.range(of: #"\s#"#, options: .regularExpression) { line = String(line[..<hash.lowerBound]) }
                line = line.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, ["full", "read"].contains(parts[0]), parts[1].count >= 16 else {
                    throw SiteSyncError(.invalidInput, "--token-file \(file), line \(n + 1): write `full: TOKEN` or `read: TOKEN`, a token of 16 characters or more")
                }
                if fromFile.contains(parts[0]) {
                    throw SiteSyncError(.invalidInput, "--token-file \(file), line \(n + 1): a second `\(parts[0]):` token; keep one of each")
                }
                fromFile.append(parts[0])
                if parts[0] == "full" { full = parts[1] } else { read = parts[1] }
            }
            guard fromFile.contains("full") || fromFile.contains("read") else {
                throw SiteSyncError(.invalidInput, "--token-file \(file) holds no token: write `full: TOKEN` and/or `read: TOKEN` lines (e.g. from `openssl rand -hex 32`)")
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
        // The scheme is case-insensitive (RFC 9110).
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return nil }
        let given = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
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
