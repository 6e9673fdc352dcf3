import SiteSyncModel

/// Settings as JSON (`settings show --json`, the `settings` of a site): maps, lists and scalars as they are.
extension ConfigValue: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .double(let d): var c = encoder.singleValueContainer(); try c.encode(d)
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .list(let l): var c = encoder.unkeyedContainer(); for v in l { try c.encode(v) }
        case .map(let m):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in m { try c.encode(v, forKey: Key(stringValue: k)) }
        }
    }

    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Key.self) {
            var m: [String: ConfigValue] = [:]
            for key in keyed.allKeys { m[key.stringValue] = try keyed.decode(ConfigValue.self, forKey: key) }
            self = .map(m)
        } else if var list = try? decoder.unkeyedContainer() {
            var l: [ConfigValue] = []
            while !list.isAtEnd { l.append(try list.decode(ConfigValue.self)) }
            self = .list(l)
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int.self) { self = .int(i) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else { self = .string(try c.decode(String.self)) }
        }
    }
}
