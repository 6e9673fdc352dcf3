import Yams

/// A settings value as read from YAML, before it is given a type.
///
/// Settings are layered (system → project `default` → project → this machine), and layering is a deep merge of
/// maps; keeping the untyped tree until the end makes that merge one small function instead of one per setting.
public enum ConfigValue: Sendable, Equatable {
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
    /// Parses a YAML document. An empty document is an empty map.
    public static func parseYAML(_ text: String, source: String) throws -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw SettingsError(source, "is not valid YAML: \(error)")
        }
        guard let node else { return .map([:]) }
        return try ConfigValue(node: node, path: source)
    }

    init(node: Node, path: String) throws {
        switch node {
        case .scalar(let scalar):
            // YAML 1.2 core schema for plain scalars; quoted scalars are always text.
            self = scalar.style == .plain ? ConfigValue.plain(scalar.string) : .string(scalar.string)
        case .sequence(let seq):
            self = .list(try seq.enumerated().map { try ConfigValue(node: $0.element, path: "\(path)[\($0.offset)]") })
        case .mapping(let mapping):
            var out: [String: ConfigValue] = [:]
            for (key, value) in mapping {
                guard let k = key.string else { throw SettingsError(path, "map keys must be strings") }
                out[k] = try ConfigValue(node: value, path: "\(path).\(k)")
            }
            self = .map(out)
        case .alias:
            throw SettingsError(path, "YAML aliases are not supported; write the value out")
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

    /// YAML with sorted keys, so exports are stable and diff well.
    public func yamlText() -> String {
        (try? Yams.serialize(node: node(), sortKeys: true)) ?? ""
    }

    func node() -> Node {
        switch self {
        case .string(let s):
            // Quote text that would otherwise read back as a number, a bool or null.
            let plain = ConfigValue.plain(s) == .string(s) && !s.isEmpty
            return Node(s, Tag(.str), plain ? .plain : .doubleQuoted)
        case .int(let i): return Node(String(i))
        case .double(let d): return Node(String(d))
        case .bool(let b): return Node(b ? "true" : "false")
        case .null: return Node("null")
        case .list(let l): return .sequence(.init(l.map { $0.node() }))
        case .map(let m):
            return .mapping(.init(m.sorted { $0.key < $1.key }.map { (Node($0.key), $0.value.node()) }))
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
        switch v {
        case .bool(let b): return b
        case .string(let s) where ["true", "yes", "on"].contains(s.lowercased()): return true
        case .string(let s) where ["false", "no", "off"].contains(s.lowercased()): return false
        default: throw SettingsError(key(k), "expected true or false")
        }
    }

    /// Accepts numbers written as text too ("3"): OpenPype stored these as text and studios migrate from it.
    func int(_ k: String) throws -> Int? {
        guard let v = map[k], v != .null else { return nil }
        switch v {
        case .int(let i): return i
        case .string(let s): if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
        case .double(let d): if d == d.rounded() { return Int(d) }
        default: break
        }
        throw SettingsError(key(k), "expected a whole number")
    }

    func double(_ k: String) throws -> Double? {
        guard let v = map[k], v != .null else { return nil }
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): if let d = Double(s.trimmingCharacters(in: .whitespaces)) { return d }
        default: break
        }
        throw SettingsError(key(k), "expected a number")
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
