/// A root path, either one path for every platform or one per platform (`{linux: …, windows: …}`).
public struct RootPath: Sendable, Hashable {
    public var everywhere: String?
    public var perPlatform: [Platform: String]

    public init(_ path: String) {
        everywhere = path
        perPlatform = [:]
    }

    public init(perPlatform: [Platform: String]) {
        everywhere = nil
        self.perPlatform = perPlatform
    }

    public func path(on platform: Platform) -> String? {
        perPlatform[platform] ?? everywhere
    }

    static func parse(_ value: ConfigValue, path: String) throws -> RootPath {
        switch value {
        case .string, .int, .double:
            return RootPath(value.stringValue ?? "")
        case .map(let m):
            var out: [Platform: String] = [:]
            for (k, v) in m {
                guard let platform = Platform(rawValue: k) else {
                    throw SettingsError("\(path).\(k)", "unknown platform; use linux, windows or darwin")
                }
                guard let s = v.stringValue else { throw SettingsError("\(path).\(k)", "expected a path") }
                out[platform] = s
            }
            return RootPath(perPlatform: out)
        default:
            throw SettingsError(path, "expected a path or a map of linux/windows/darwin paths")
        }
    }

    var configValue: ConfigValue {
        if let everywhere, perPlatform.isEmpty { return .string(everywhere) }
        var m = Dictionary(uniqueKeysWithValues: perPlatform.map { ($0.key.rawValue, ConfigValue.string($0.value)) })
        if let everywhere { m["linux"] = m["linux"] ?? .string(everywhere) }
        return .map(m)
    }
}

/// Root name → root path (`{work: /mnt/studio}`).
public typealias Roots = [String: RootPath]

enum RootsParser {
    static func parse(_ value: ConfigValue?, path: String) throws -> Roots {
        guard let value, value != .null else { return [:] }
        guard case .map(let m) = value else { throw SettingsError(path, "expected a map of root name → path") }
        var roots: Roots = [:]
        for (name, v) in m {
            guard Names.isValid(name) else { throw SettingsError("\(path).\(name)", "invalid root name") }
            roots[name] = try RootPath.parse(v, path: "\(path).\(name)")
        }
        return roots
    }

    static func configValue(_ roots: Roots) -> ConfigValue {
        .map(roots.mapValues { $0.configValue })
    }
}

/// Rootless paths as stored in the catalog: `{root[work]}/robots/chars/anna/publish/model/v003/anna.ma`.
///
/// Only the leading `{root[NAME]}` is a placeholder; braces anywhere else are literal characters of the path
/// (the reference formatted whole paths with `str.format` and broke on any `{` in a file name).
public enum RootlessPath {
    public static func make(root: String, relative: String) -> String {
        "{root[\(root)]}/" + relative.drop(while: { $0 == "/" })
    }

    /// The root name and the path below it.
    public static func split(_ path: String) -> (root: String, relative: String)? {
        guard path.hasPrefix("{root["), let close = path.range(of: "]}") else { return nil }
        let name = String(path[path.index(path.startIndex, offsetBy: 6)..<close.lowerBound])
        guard Names.isValid(name) else { return nil }
        let rest = path[close.upperBound...].drop(while: { $0 == "/" })
        return (name, String(rest))
    }

    /// The path of a file on one site, given that site's roots for this platform.
    public static func resolve(_ path: String, roots: [String: String], site: String) throws -> String {
        guard let (root, relative) = split(path) else {
            throw SettingsError("path", "'\(path)' is not a rootless path ({root[NAME]}/…)")
        }
        guard let base = roots[root], !base.isEmpty else {
            let known = roots.keys.sorted().joined(separator: ", ")
            throw SettingsError("sites.\(site).roots.\(root)",
                "site '\(site)' has no root '\(root)' for this platform (it has: \(known.isEmpty ? "none" : known)); add it to the site's roots")
        }
        return join(base, relative)
    }

    public static func join(_ base: String, _ relative: String) -> String {
        if relative.isEmpty { return base }
        var b = base
        while b.count > 1 && b.hasSuffix("/") { b.removeLast() }
        return b == "/" ? "/" + relative : b + "/" + relative
    }
}

extension RootPath {
    /// Every path it holds is absolute for its platform (`/…`; on Windows also `P:/…`, `P:\…` or `\\server\…`).
    /// A relative root would resolve against whatever folder a server happens to start in.
    public static func isAbsolute(_ path: String, on platform: Platform?) -> Bool {
        let windows: Bool = {
            let c = Array(path.unicodeScalars)
            if c.count >= 3, ("a"..."z").contains(c[0]) || ("A"..."Z").contains(c[0]), c[1] == ":",
               c[2] == "/" || c[2] == "\\" { return true }
            return path.hasPrefix("\\\\") || path.hasPrefix("//")
        }()
        switch platform {
        case .windows?: return windows
        case nil: return path.hasPrefix("/") || windows
        default: return path.hasPrefix("/")
        }
    }
}
