import Foundation
@testable import SiteSyncExternal
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport

/// Where the example providers and the broken one live, and how to make sites of them.
enum ExternalFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let template = repository + "/examples/providers/template/folder_provider.py"
    static let broken = repository + "/Tests/SiteSyncExternalTests/Fixtures/broken_provider.py"
    static let webdav = repository + "/examples/providers/webdav/webdav_provider.py"

    /// The system's Python 3 (the examples use only its standard library).
    static var python: String {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "python3"
    }

    /// A folder-template site keeping its files in `base`, with its root `/site` (created).
    static func folderSite(_ name: String = "ext", base: String, command: [String]? = nil, options: [String: ConfigValue] = [:],
                           extra: [String: ConfigValue] = [:], root: String = "/site") throws -> SiteConfig {
        try FileManager.default.createDirectory(atPath: base + root, withIntermediateDirectories: true)
        var opts = options
        opts["base"] = .string(base)
        var site: [String: ConfigValue] = [
            "command": .list((command ?? [python, template]).map(ConfigValue.string)),
            "options": .map(opts),
        ]
        for (k, v) in extra { site[k] = v }
        var config = SiteConfig(name: name, provider: "external", roots: ["work": RootPath(root)], options: site)
        config.concurrency = extra["concurrency"]?.integerValue
        return config
    }
}
