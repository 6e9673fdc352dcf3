import Foundation
import NIOSSL
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// Where the studio catalog is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…&sslrootcert=…&connect_timeout=…]`.
/// The password comes from the URL, else `PGPASSWORD`, else `~/.pgpass` (as libpq reads it); it is never shown.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        /// No TLS (a studio LAN with trusted wiring).
        case disable
        /// TLS when the server offers it, the certificate not checked; plain otherwise (libpq's default, and ours
        /// when the URL names no sslmode).
        case prefer
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
    /// Seconds to wait for the database at first contact (`connect_timeout`, default 10).
    public var connectTimeout: Double = 10

    /// Why a password the URL did not give was not found, for the message that asks for one.
    var passwordNote: String?

    /// Shown with the password hidden (`***` wherever it came from).
    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)\(sslMode == .prefer ? "" : "?sslmode=\(sslMode.rawValue)")"
    }

    public static func isPostgres(_ location: String) -> Bool {
        let lower = location.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func bad(_ problem: String) -> SiteSyncError {
            SiteSyncError(.invalidInput, "catalog URL \(Self.redact(text)): \(problem); write it like postgres://sitesync@db.studio:5432/sitesync?sslmode=verify-full")
        }
        guard Self.isPostgres(text), let components = URLComponents(string: text) else { throw bad("not a postgres:// URL") }
        guard let host = components.host, !host.isEmpty else { throw bad("no host") }
        // Decoded once: `%25` in a password is `%`.
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw bad("no user (postgres://USER@HOST/DB)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw bad("no database name after the host (…/DB)") }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw bad("port \(port) is not a TCP port (1 to 65535)") }
        self.user = user
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        self.database = database
        var mode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let m = SSLMode(rawValue: value) else {
                    throw bad("sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = m
            case "sslrootcert":
                sslRootCert = item.value
            case "connect_timeout":
                // libpq's name and meaning: seconds to wait for the database before saying it cannot be reached.
                guard let value = item.value, let seconds = Int(value), (1...600).contains(seconds) else {
                    throw bad("connect_timeout is whole seconds, 1 to 600")
                }
                connectTimeout = Double(seconds)
            default:
                throw bad("unknown parameter '\(item.name)' (known: sslmode, sslrootcert, connect_timeout)")
            }
        }
        sslMode = mode
        if sslRootCert != nil && mode != .verifyFull {
            throw bad("sslrootcert is only used with sslmode=verify-full")
        }
        if let encoded = components.percentEncodedPassword {
            guard let decoded = encoded.removingPercentEncoding else {
                throw bad("the password cannot be decoded; write % as %25 (and @ : / # ? as %40 %3A %2F %23 %3F)")
            }
            password = decoded
        } else if let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            password = fromEnvironment
        } else {
            let (found, note) = Self.pgpass(host: self.host, port: port, database: database, user: user, environment: environment)
            password = found
            passwordNote = note
        }
    }

    /// `hostname:port:database:username:password` lines; `*` matches anything (libpq's rules). A file other users
    /// can read is ignored, as libpq ignores it; the note says so.
    static func pgpass(host: String, port: Int, database: String, user: String, environment: [String: String]) -> (String?, String?) {
        let path = environment["PGPASSFILE"] ?? "\(environment["HOME"] ?? NSHomeDirectory())/.pgpass"
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            return (nil, "\(path) was ignored: other users can read it (chmod 600 \(path))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return (nil, nil) }
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
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return (fields[4], nil) }
        }
        return (nil, nil)
    }

    /// A URL as it may be shown: its password replaced.
    public static func redact(_ text: String) -> String {
        SecretText.redactingPassword(text)
    }

    /// The TLS settings `sslmode` names (nil: plain connection).
    func tlsConfiguration() throws -> TLSConfiguration? {
        switch sslMode {
        case .disable:
            return nil
        case .require, .prefer:
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
                    throw SiteSyncError(.invalidInput, "sslrootcert \(sslRootCert) cannot be read as PEM certificates (a missing file, a key, a folder?); give the studio CA's certificate file")
                }
            }
            return config
        }
    }

    /// The pool's configuration.
    func configuration() throws -> PostgresClient.Configuration {
        let tls = try tlsConfiguration()
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls.map { sslMode == .prefer ? .prefer($0) : .require($0) } ?? .disable)
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
        let mode: PostgresConnection.Configuration.TLS = try tls.map { config in
            let context = try NIOSSLContext(configuration: config)
            return sslMode == .prefer ? .prefer(context) : .require(context)
        } ?? .disable
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database, tls: mode)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }
}
