import Yams

/// A settings value as read from YAML, before it is given a type.
///
/// Settings are layered (system → project `default` → project → this machine), and layering is a deep merge of
/// maps; keeping the untyped tree until the end makes that merge one small function instead of one per setting.
public enum ConfigValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([ConfigValue])
    case map([String: ConfigValue])
    case null

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        default: return nil
        }
    }

    public var mapValue: [String: ConfigValue]? {
        if case .map(let m) = self { return m }
        return nil
    }

    public subscript(key: String) -> ConfigValue? {
        mapValue?[key]
    }

    /// A whole number, also when written as text ("3"): OpenPype stored numbers as text and studios migrate from it.
    public var integerValue: Int? {
        switch self {
        case .int(let i): return i
        case .string(let s): return Int(s.trimmingCharacters(in: .whitespaces))
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) : nil
        default: return nil
        }
    }

    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    public var booleanValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s) where ["true", "yes", "on"].contains(s.lowercased()): return true
        case .string(let s) where ["false", "no", "off"].contains(s.lowercased()): return false
        default: return nil
        }
    }

    /// A copy with one value set at a key path, creating maps on the way.
    public func setting(_ path: [String], to value: ConfigValue) -> ConfigValue {
        guard let key = path.first else { return value }
        var m = mapValue ?? [:]
        m[key] = (m[key] ?? .map([:])).setting(Array(path.dropFirst()), to: value)
        return .map(m)
    }

    /// What a secret is shown as.
    public static let hiddenSecret = "***"

    /// A copy with the values of `secretKeys` replaced by `***`, at any depth. Keys are matched in any case, and
    /// a key that ends like a secret (`db_password`, `api_token`, `client_secret`) is one too: hiding a value too
    /// many is harmless, showing one is not.
    public func redacted(secretKeys: Set<String>) -> ConfigValue {
        switch self {
        case .map(let m):
            return .map(Dictionary(uniqueKeysWithValues: m.map { k, v in
                (k, Self.isSecretKey(k, among: secretKeys) && v != .null ? .string(Self.hiddenSecret) : v.redacted(secretKeys: secretKeys))
            }))
        case .list(let l): return .list(l.map { $0.redacted(secretKeys: secretKeys) })
        default: return self
        }
    }

    /// Endings that make any key a secret's.
    public static let secretKeySuffixes = ["password", "passwd", "passphrase", "secret", "token", "_key_pass", "private_key"]

    public static func isSecretKey(_ key: String, among secretKeys: Set<String>) -> Bool {
        let lower = key.lowercased()
        return secretKeys.contains(key) || secretKeys.contains(lower) || secretKeySuffixes.contains { lower.hasSuffix($0) }
    }

    /// `overlay` wins; maps merge key by key, everything else is replaced whole.
    public func merged(with overlay: ConfigValue?) -> ConfigValue {
        guard let overlay else { return self }
        switch (self, overlay) {
        case (.map(let base), .map(let top)):
            var out = base
            for (key, value) in top {
                out[key] = out[key].map { $0.merged(with: value) } ?? value
            }
            return .map(out)
        case (_, .null):
            return self
        default:
            return overlay
        }
    }
}

/// A settings problem, named by where it is in the document and what to do about it.
public struct SettingsError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var problem: String
    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

extension ConfigValue {
    /// Values a document may expand to beyond one per byte of its text. Aliases can make a few hundred bytes
    /// expand to billions of values (a "YAML bomb"); settings never need more than this.
    static let expansionAllowance = 100_000

    /// Parses a YAML document. An empty document is an empty map. Aliases and merge keys (`<<: *base`) are
    /// expanded, within a budget; a key written twice in one map is refused.
    public static func parseYAML(_ text: String, source: String) throws -> ConfigValue {
        let node: Node?
        do {
            // The basic resolver: scalars are typed by `plain(_:)` below (YAML 1.2 core schema), so Yams' regex
            // tag resolution would only cost time (half of a large import).
            node = try Yams.compose(yaml: text, .basic)
        } catch {
            throw SettingsError(source, "is not valid YAML: \(oneLine(error))")
        }
        guard let node else { return .map([:]) }
        var budget = text.utf8.count + expansionAllowance
        return try ConfigValue(node: node, path: source, budget: &budget)
    }

    /// libyaml's message without the quoted document Yams appends: the problem and where it is.
    static func oneLine(_ error: any Error) -> String {
        let lines = "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard var first = lines.first else { return "\(error)" }
        if let context = lines.firstIndex(of: "Context:"),
           let line = lines[context...].last(where: { $0.contains(" in line ") }),
           let at = line.range(of: "in line ") {
            first += " (\(line[at.lowerBound...]))"
        }
        return first
    }

    init(node: Node, path: String, budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else {
            throw SettingsError(path, "the document expands to far more values than its text holds (YAML aliases nested into a bomb?); write the values out")
        }
        switch node {
        case .scalar(let scalar):
            // YAML 1.2 core schema for plain scalars; quoted scalars are always text.
            self = scalar.style == .plain ? ConfigValue.plain(scalar.string) : .string(scalar.string)
        case .sequence(let seq):
            var items: [ConfigValue] = []
            items.reserveCapacity(seq.count)
            for (i, element) in seq.enumerated() {
                items.append(try ConfigValue(node: element, path: "\(path)[\(i)]", budget: &budget))
            }
            self = .list(items)
        case .mapping(let mapping):
            var out: [String: ConfigValue] = [:]
            var merged: [String: ConfigValue] = [:]
            out.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                guard let k = key.string else { throw SettingsError(path, "map keys must be text") }
                let child = try ConfigValue(node: value, path: path.isEmpty ? k : "\(path).\(k)", budget: &budget)
                if k == "<<" {
                    // A merge key: the keys of the map(s) it names, where this map does not set them itself.
                    let sources: [ConfigValue]
                    if case .list(let l) = child { sources = l } else { sources = [child] }
                    for source in sources {
                        guard case .map(let m) = source else { throw SettingsError("\(path).<<", "a merge key takes a map or a list of maps") }
                        for (mk, mv) in m where merged[mk] == nil { merged[mk] = mv }
                    }
                    continue
                }
                guard out.updateValue(child, forKey: k) == nil else {
                    throw SettingsError(path.isEmpty ? k : "\(path).\(k)", "is written twice; keep one")
                }
            }
            for (k, v) in merged where out[k] == nil { out[k] = v }
            self = .map(out)
        case .alias:
            throw SettingsError(path, "YAML aliases are not supported here; write the value out")
        }
    }

    /// How an unquoted scalar reads (YAML 1.2 core schema); quoted scalars are always text.
    static func plain(_ text: String) -> ConfigValue {
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        if ["true", "True", "TRUE"].contains(text) { return .bool(true) }
        if ["false", "False", "FALSE"].contains(text) { return .bool(false) }
        if let i = Int(text) { return .int(i) }
        if text.first.map({ $0.isNumber || $0 == "-" || $0 == "." || $0 == "+" }) == true, let d = Double(text) {
            return .double(d)
        }
        return .string(text)
    }

    /// YAML with sorted keys, so exports are stable and diff well. `node()` sorts them: Yams' own `sortKeys`
    /// looks every key up again by a linear search, which made a 60,000-site export take minutes.
    public func yamlText() -> String {
        (try? Yams.serialize(node: node(), sortKeys: false)) ?? ""
    }

    func node() -> Node {
        // Tags are given, not resolved: Yams' default resolver runs regular expressions on every scalar.
        func scalar(_ text: String, _ tag: Tag.Name, _ style: Node.Scalar.Style = .plain) -> Node {
            Node(text, Tag(tag, .basic), style)
        }
        switch self {
        case .string(let s):
            // Quote text that would otherwise read back as a number, a bool or null.
            let plain = ConfigValue.plain(s) == .string(s) && !s.isEmpty
            return scalar(s, .str, plain ? .plain : .doubleQuoted)
        case .int(let i): return scalar(String(i), .int)
        case .double(let d): return scalar(String(d), .float)
        case .bool(let b): return scalar(b ? "true" : "false", .bool)
        case .null: return scalar("null", .null)
        case .list(let l): return .sequence(.init(l.map { $0.node() }, Tag(.seq, .basic)))
        case .map(let m):
            return .mapping(.init(m.sorted { $0.key < $1.key }.map { (scalar($0.key, .str), $0.value.node()) }, Tag(.map, .basic)))
        }
    }
}

/// Typed reads from a settings map with errors that name the key.
struct ConfigReader {
    let map: [String: ConfigValue]
    let path: String

    init(_ value: ConfigValue?, path: String) throws {
        switch value {
        case nil, .null?: self.map = [:]
        case .map(let m)?: self.map = m
        default: throw SettingsError(path, "expected a map of keys")
        }
        self.path = path
    }

    func key(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    func string(_ k: String) throws -> String? {
        guard let v = map[k], v != .null else { return nil }
        guard case .string(let s) = v else {
            if let s = v.stringValue { return s }
            throw SettingsError(key(k), "expected text")
        }
        return s
    }

    func bool(_ k: String) throws -> Bool? {
        guard let v = map[k], v != .null else { return nil }
        guard let b = v.booleanValue else { throw SettingsError(key(k), "expected true or false") }
        return b
    }

    func int(_ k: String) throws -> Int? {
        guard let v = map[k], v != .null else { return nil }
        guard let i = v.integerValue else { throw SettingsError(key(k), "expected a whole number") }
        return i
    }

    func double(_ k: String) throws -> Double? {
        guard let v = map[k], v != .null else { return nil }
        guard let d = v.numberValue else { throw SettingsError(key(k), "expected a number") }
        return d
    }

    func stringList(_ k: String) throws -> [String]? {
        guard let v = map[k], v != .null else { return nil }
        switch v {
        case .list(let items):
            return try items.enumerated().map { i, item in
                guard let s = item.stringValue else { throw SettingsError("\(key(k))[\(i)]", "expected text") }
                return s.trimmingCharacters(in: .whitespaces)
            }
        case .string(let s):  // a single name is a list of one
            return s.isEmpty ? [] : [s.trimmingCharacters(in: .whitespaces)]
        default:
            throw SettingsError(key(k), "expected a list of names")
        }
    }
}

import Foundation
