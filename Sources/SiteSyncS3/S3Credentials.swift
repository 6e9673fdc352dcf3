import Foundation
import SiteSyncModel
import SiteSyncProviders

/// An access key pair (and a session token for temporary keys), and where it came from — for `site check`, which
/// names the identity without showing the secret.
public struct S3Credentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// `site settings`, `profile 'studio' of ~/.aws/credentials`, `the AWS_* environment`.
    public var origin: String
    /// Where a person fixes the key id and the secret: site keys, a profile's lines, or environment variables.
    public var keyIDSetting: String = ""
    public var secretSetting: String = ""

    /// What to check when S3 refuses these keys, named where they come from.
    public var fixHint: String {
        "check \(secretSetting) and \(keyIDSetting)" + (sessionToken == nil ? "" : " (and the session token given with them: it must belong to these keys and not have expired)")
    }

    /// The key id with its middle hidden: enough to tell keys apart in a log, not a secret anyway.
    public var shownKeyID: String {
        accessKeyID.count > 8 ? "\(accessKeyID.prefix(4))…\(accessKeyID.suffix(4))" : accessKeyID
    }
}

/// Where a site's keys come from, in the order the AWS tools use: the site's own keys, a named profile, the
/// `AWS_*` environment, then the `AWS_PROFILE` (or `default`) profile. Resolved when the provider is made, so a
/// missing key is reported by `site check` and at import, not in the middle of a transfer.
public struct S3CredentialSource: Sendable {
    public let resolved: S3Credentials

    init(site config: SiteConfig, environment: [String: String]) throws {
        let text = config.optionText
        // Pairs are complete here: `S3Settings.rules` refused one key without the other.
        if let id = text("access_key_id"), let secret = text("secret_access_key") {
            resolved = S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: text("session_token"), origin: "site settings",
                                     keyIDSetting: "sites.\(config.name).access_key_id", secretSetting: "sites.\(config.name).secret_access_key")
            return
        }
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(environment["HOME"] ?? NSHomeDirectory())/.aws/credentials"
        if let profile = text("profile") {
            resolved = try Self.profile(profile, in: file, site: config.name)
            return
        }
        if let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty {
            guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
                throw ProviderError(.configuration, "site '\(config.name)': AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or give the site access_key_id and secret_access_key")
            }
            resolved = S3Credentials(accessKeyID: id, secretAccessKey: secret,
                                     sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 },
                                     origin: "the AWS_* environment", keyIDSetting: "AWS_ACCESS_KEY_ID", secretSetting: "AWS_SECRET_ACCESS_KEY")
            return
        }
        if let named = environment["AWS_PROFILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            // Named on purpose: its absence is an error, not a reason to look elsewhere.
            resolved = try Self.profile(named, in: file, site: config.name, namedBy: "AWS_PROFILE")
            return
        }
        if FileManager.default.fileExists(atPath: file), let found = try? Self.profile("default", in: file, site: config.name) {
            resolved = found
            return
        }
        throw ProviderError(.configuration, "site '\(config.name)' has no S3 credentials: give the site access_key_id and secret_access_key, or profile (a section of \(file)), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    }

    /// A profile of the AWS shared credentials file (INI: `[name]`, then `key = value` lines).
    static func profile(_ name: String, in file: String, site: String, namedBy: String = "profile") throws -> S3Credentials {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ProviderError(.configuration, "site '\(site)': \(namedBy) '\(name)' needs the AWS credentials file \(file), which cannot be read; create it, or point AWS_SHARED_CREDENTIALS_FILE at the right file")
        }
        var section: String?
        var sections: [String] = []
        var values: [String: String] = [:]
        for raw in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                sections.append(section ?? "")
                continue
            }
            guard section == name, let eq = line.firstIndex(of: "=") else { continue }
            values[line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        guard sections.contains(name) else {
            throw ProviderError(.configuration, "site '\(site)': \(file) has no profile '\(name)' (\(namedBy)); it has: \(sections.isEmpty ? "none" : sections.joined(separator: ", "))")
        }
        let missing = ["aws_access_key_id", "aws_secret_access_key"].filter { (values[$0] ?? "").isEmpty }
        guard missing.isEmpty, let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw ProviderError(.configuration, "site '\(site)': profile '\(name)' in \(file) has no \(missing.joined(separator: " and ")); add it to that profile")
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                             origin: "profile '\(name)' of \(file)", keyIDSetting: "aws_access_key_id of profile '\(name)' in \(file)",
                             secretSetting: "aws_secret_access_key of profile '\(name)' in \(file)")
    }
}
