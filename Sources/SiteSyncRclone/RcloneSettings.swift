import Foundation
import SiteSyncModel
import SiteSyncProviders

/// An `rclone` site's settings: which rclone remote, with which configuration and flags.
public struct RcloneSettings: Sendable {
    public var site: String
    /// An rclone remote: `studio-dbx:` (from the config file), `:sftp,host=…:` (on the fly) or a local folder.
    public var remote: String
    public var configFile: String?
    /// Extra flags for `rclone rcd` (`--sftp-set-modtime=false`, `--s3-upload-concurrency=8`).
    public var flags: [String]
    /// The rclone program.
    public var program: String
    public var roots: [String: String]
    public var bytesPerSecond: Int64?

    /// Parameter names of an on-the-fly remote whose values are secrets: they belong in the config file, where
    /// `settings show` cannot reveal them.
    static let secretParameters = ["pass", "password", "secret_access_key", "token", "client_secret", "key_file_pass",
                                   "key_pem", "session_token", "account_key", "sas_url", "service_account_credentials"]

    public static let schema = ProviderSchema(provider: RcloneProvider.name, options: [
        OptionSpec("remote", .text, required: true,
                   help: "an rclone remote: `studio-dbx:` from the config file, `:sftp,host=…:` on the fly, or a local folder"),
        OptionSpec("config_file", .path, help: "rclone's config file (default: rclone's own, ~/.config/rclone/rclone.conf)"),
        OptionSpec("options", .arguments, help: "extra rclone flags, e.g. [--sftp-set-modtime=false]"),
        OptionSpec("rclone", .path, default: "rclone", help: "the rclone program (a path or a name on PATH)"),
    ], rules: rules)

    static func rules(_ merged: [String: ConfigValue]) -> [String] {
        guard let remote = merged["remote"]?.stringValue else { return [] }
        if let secret = secretParameter(in: remote) {
            return ["remote: holds `\(secret)=…`: keep credentials in rclone's config file (`rclone config`, then config_file and `remote: name:`), where settings show cannot reveal them"]
        }
        return []
    }

    /// The first secret parameter an on-the-fly remote (`:backend,key=value,…:`) holds.
    static func secretParameter(in remote: String) -> String? {
        let lower = remote.lowercased()
        return secretParameters.first { lower.contains(",\($0)=") || lower.contains(":\($0)=") }
    }

    public init(site config: SiteConfig, platform: Platform) throws {
        func fail(_ key: String, _ problem: String) -> ProviderError {
            ProviderError(.configuration, "sites.\(config.name).\(key): \(problem)")
        }
        site = config.name
        guard let remote = config.optionText("remote") else {
            throw fail("remote", "an rclone site needs `remote`: `studio-dbx:` from rclone's config file, or `:sftp,host=…:`")
        }
        if let secret = Self.secretParameter(in: remote) {
            throw fail("remote", "holds `\(secret)=…`: keep credentials in rclone's config file (config_file), not in the site's settings")
        }
        self.remote = remote
        configFile = config.optionText("config_file")
        switch config.options["options"] {
        case nil, .null?: flags = []
        case .string(let s)?: flags = [s]
        case .list(let items)?:
            flags = items.compactMap(\.stringValue)
            guard flags.count == items.count else { throw fail("options", "every item must be text, an rclone flag") }
        default: throw fail("options", "expected a list of rclone flags, e.g. [--sftp-set-modtime=false]")
        }
        program = config.optionText("rclone") ?? "rclone"
        roots = config.rootPaths(on: platform)
        bytesPerSecond = config.bandwidthLimit
    }

    /// The remote and a site path, as one rclone path (`studio-dbx:/projects/a.exr`).
    func fs(_ path: String) -> (fs: String, remote: String) {
        // rclone takes the remote as `fs` and the rest relative to it; a path's leading slash stays on the `fs`
        // side, so `:sftp,…:` + `/upload` is the absolute /upload on the server.
        (remote, path.hasPrefix("/") ? String(path.dropFirst()) : path)
    }

    /// The remote's root as `fs` for the site's absolute paths.
    var rootFs: String { remote.hasSuffix(":") ? remote + "/" : (remote.hasSuffix("/") ? remote : remote + "/") }
}
