import Foundation
import NIOSSL
import PostgresNIO
import SiteSyncCatalog

/// Where the studio catalog is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…&sslrootcert=…]`.
/// The password comes from the URL, else `PGPASSWORD`, else `~/.pgpass` (as libpq reads it); it is never shown.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        /// No TLS (a studio LAN with trusted wiring).
        case disable
        /// TLS, the server's certificate not checked.
        case require
        /// TLS, the certificate checked against the system's (or `sslrootcert`'s) authorities and the host name.
        case verifyFull = "verify-full"
    }

    public var user: String
    var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCert: String?

    /// Shown with the password hidden.
    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)\(sslMode == .disable ? "" : "?sslmode=\(sslMode.rawValue)")"
    }

    public static func isPostgres(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func bad(_ problem: String) -> CatalogError {
            .storage("catalog URL \(Self.redact(text)): \(problem); write it like postgres://sitesync@db.studio:5432/sitesync?sslmode=verify-full")
        }
        guard Self.isPostgres(text), let components = URLComponents(string: text) else { throw bad("not a postgres:// URL") }
        guard let host = components.host, !host.isEmpty else { throw bad("no host") }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else { throw bad("no user (postgres://USER@HOST/DB)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw bad("no database name after the host (…/DB)") }
        self.user = user
        self.host = host
        self.port = components.port ?? 5432
        self.database = database
        var mode = SSLMode.disable
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let m = SSLMode(rawValue: value) else {
                    throw bad("sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = m
            case "sslrootcert":
                sslRootCert = item.value
            default:
                throw bad("unknown parameter '\(item.name)' (known: sslmode, sslrootcert)")
            }
        }
        sslMode = mode
        password = components.password?.removingPercentEncoding
            ?? environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.pgpass(host: host, port: port, database: database, user: user, environment: environment)
    }

    /// `hostname:port:database:username:password` lines; `*` matches anything (libpq's rules).
    static func pgpass(host: String, port: Int, database: String, user: String, environment: [String: String]) -> String? {
        let path = environment["PGPASSFILE"] ?? "\(environment["HOME"] ?? NSHomeDirectory())/.pgpass"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = []
            var current = ""
            var escaped = false
            for c in line {
                if escaped { current.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == ":" {
                    fields.append(current); current = ""
                } else { current.append(c) }
            }
            fields.append(current)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A URL as it may be shown: its password replaced.
    public static func redact(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].firstIndex(of: "@") else { return text }
        let userInfo = text[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }

    /// The TLS settings `sslmode` names (nil: plain connection).
    func tlsConfiguration() throws -> TLSConfiguration? {
        switch sslMode {
        case .disable:
            return nil
        case .require:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            return config
        case .verifyFull:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .fullVerification
            if let sslRootCert {
                do {
                    config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCert))
                } catch {
                    throw CatalogError.storage("sslrootcert \(sslRootCert) cannot be read as PEM certificates: \(error)")
                }
            }
            return config
        }
    }

    /// The pool's configuration.
    func configuration() throws -> PostgresClient.Configuration {
        let tls = try tlsConfiguration()
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls.map { .require($0) } ?? .disable)
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.maximumConnections = 8
        // Every catalog query reads a few rows through an index: starting parallel workers costs more than it saves
        // (a status page took twice as long with them).
        configuration.options.additionalStartupParameters = [("max_parallel_workers_per_gather", "0")]
        return configuration
    }

    /// One connection's configuration: the first contact, whose failure says exactly what is wrong (the pool
    /// would retry a wrong password or a missing database until its deadline).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls = try tlsConfiguration()
        let mode: PostgresConnection.Configuration.TLS = try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database, tls: mode)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }
}
