import Foundation
import SiteSyncModel
import SiteSyncProviders

/// An `external` site's settings: the program to run and what it is handed.
public struct ExternalSettings: Sendable {
    /// How an upload is proved before it gets its final name.
    public enum UploadVerification: String, Sendable, CaseIterable {
        /// The storage's hash when the provider reports one, else a read-back.
        case auto
        /// The hash the provider reports after `put` (or by `hash`) must match; refused for a provider without one.
        case hash
        /// The uploaded file is downloaded again and its SHA-256 compared: proof for any storage, at the cost of
        /// reading every byte back.
        case readback
        /// Only the size the storage reports is compared. The source was hashed before it was sent, but the bytes
        /// that arrived are not: a choice for storage that cannot be read back cheaply, said so by `site check`.
        case size
    }

    public var site: String
    /// The program and its arguments.
    public var command: [String]
    public var options: [String: ConfigValue]
    public var roots: [String: String]
    /// Seconds an operation may go without a word (an answer or progress) from the provider before it is
    /// taken for hung: the process is stopped and the file's try fails.
    public var timeout: Double
    public var verifyUploads: UploadVerification
    public var bytesPerSecond: Int64?

    /// Names of `options` keys hidden by `settings show`, `site list` and exports (redaction is by key name at
    /// any depth). A provider's own secret keys, declared in its `hello`, are hidden from the log as well.
    public static let conventionalSecretKeys: Set<String> = [
        "password", "pass", "passphrase", "secret", "token", "api_key", "access_token", "refresh_token",
        "client_secret", "secret_access_key", "private_key", "bearer_token",
    ]

    public static let schema = ProviderSchema(provider: ExternalProvider.name, options: [
        OptionSpec("command", .arguments, required: true,
                   help: "the provider program and its arguments, e.g. [python3, /studio/providers/dav.py]"),
        OptionSpec("options", .map, help: "settings handed to the provider at start (its hello); keys named password, token, secret, … are shown as ***"),
        OptionSpec("timeout", .number, default: "60", range: 1...86_400,
                   help: "seconds an operation may go without an answer or progress before the provider counts as hung"),
        OptionSpec("verify_uploads", .text, default: "auto",
                   help: "auto, hash, readback or size: how an upload is proved (see the README's Providers chapter)"),
    ], nestedSecretKeys: conventionalSecretKeys, rules: rules)

    static func rules(_ merged: [String: ConfigValue]) -> [String] {
        var problems: [String] = []
        if case .string(let s)? = merged["command"], s.contains(" ") {
            let words = s.split(separator: " ").joined(separator: ", ")
            problems.append("command: write the program and its arguments as a list, e.g. [\(words)]")
        }
        var arguments: [String] = []
        if case .list(let items)? = merged["command"] { arguments = items.compactMap(\.stringValue) }
        // `--password=…` or `--db-password …`: an argument named like a secret.
        if let secret = arguments.dropFirst().first(where: { a in
            guard a.hasPrefix("-") else { return false }
            let name = a.drop { $0 == "-" }.split(separator: "=").first.map { $0.replacingOccurrences(of: "-", with: "_") } ?? ""
            return ConfigValue.isSecretKey(name, among: conventionalSecretKeys)
        }) {
            let name = secret.split(separator: "=").first.map(String.init) ?? secret
            problems.append("command: `\(name)` puts a secret on the command line, where `settings show` and `ps` show it; put it in `options` (e.g. options: {password: …})")
        }
        if let v = merged["verify_uploads"]?.stringValue, UploadVerification(rawValue: v) == nil {
            problems.append("verify_uploads: '\(v)' is not one of \(UploadVerification.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return problems
    }

    public init(site config: SiteConfig, platform: Platform) throws {
        func fail(_ key: String, _ problem: String) -> ProviderError {
            ProviderError(.configuration, "sites.\(config.name).\(key): \(problem)")
        }
        site = config.name
        switch config.options["command"] {
        case .string(let program)? where !program.isEmpty:
            command = [program]
        case .list(let items)? where !items.isEmpty:
            command = items.compactMap(\.stringValue)
            guard command.count == items.count, !command.contains(where: \.isEmpty) else {
                throw fail("command", "every item must be text: the program, then its arguments")
            }
        default:
            throw fail("command", "an external site needs `command`: the provider program and its arguments, e.g. [python3, /studio/providers/dav.py]")
        }
        switch config.options["options"] {
        case nil, .null?: options = [:]
        case .map(let m)?: options = m
        default: throw fail("options", "expected a map of key: value, handed to the provider")
        }
        if let t = config.options["timeout"], t != .null {
            guard let n = t.numberValue, n >= 1 else { throw fail("timeout", "expected seconds, at least 1") }
            timeout = n
        } else {
            timeout = 60
        }
        let mode = config.optionText("verify_uploads") ?? "auto"
        guard let v = UploadVerification(rawValue: mode) else {
            throw fail("verify_uploads", "'\(mode)' is not one of \(UploadVerification.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        verifyUploads = v
        roots = config.rootPaths(on: platform)
        bytesPerSecond = config.bandwidthLimit
    }

    /// The program as a person reads it in a message (its arguments may hold paths, never secrets: those go in
    /// `options`).
    var shownCommand: String { command.joined(separator: " ") }
}
