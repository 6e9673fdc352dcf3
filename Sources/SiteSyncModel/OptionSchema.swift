/// What a site setting may hold: providers declare their keys with these, so settings are checked at import,
/// shown with secrets hidden and documented, all from one table.
public struct OptionSpec: Sendable, Equatable {
    public enum ValueType: String, Sendable, Equatable {
        /// Any text (a host name, a user).
        case text
        /// A file or folder path.
        case path
        /// An `http://` or `https://` address.
        case url
        /// A whole number, written as a number or as text ("3").
        case integer
        /// A number.
        case number
        /// true/false (yes/no, on/off).
        case boolean
        /// Bytes: `10M`, `512K`, `1G` or a plain number.
        case size
        /// A list of site names (or one name).
        case names
        /// Root name → path, or per platform (checked with the roots rules).
        case roots
        /// A program and its arguments: a list of text (`[python3, /opt/dav.py]`) or one text (the program alone).
        case arguments
        /// Key → value, handed on as they are (an external provider's own `options`).
        case map
    }

    public var key: String
    public var type: ValueType
    public var required: Bool
    /// The default, as a person would write it; nil when there is none.
    public var defaultValue: String?
    /// Never printed: `***` in `settings show`, `site list` and exports.
    public var secret: Bool
    /// Lowest and highest value, for numbers.
    public var range: ClosedRange<Double>?
    /// One line of help.
    public var help: String

    public init(_ key: String, _ type: ValueType, required: Bool = false, default defaultValue: String? = nil,
                secret: Bool = false, range: ClosedRange<Double>? = nil, help: String) {
        self.key = key
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.secret = secret
        self.range = range
        self.help = help
    }

    /// A problem with `value` for this key, or nil when it fits.
    public func problem(with value: ConfigValue, at path: String) -> SettingsError? {
        if value == .null { return nil }
        func wrong(_ expected: String) -> SettingsError { SettingsError(path, "expected \(expected) (\(help))") }
        switch type {
        case .roots:
            return nil
        case .arguments:
            switch value {
            case .string(let s) where !s.isEmpty:
                return nil
            case .list(let items) where !items.isEmpty:
                for (i, item) in items.enumerated() where item.stringValue?.isEmpty ?? true {
                    return SettingsError("\(path)[\(i)]", "expected text, a program or one of its arguments (\(help))")
                }
                return nil
            default:
                return wrong("a program and its arguments, like [python3, /opt/provider.py]")
            }
        case .map:
            guard value.mapValue != nil else { return wrong("a map of key: value") }
        case .text, .path, .url:
            guard let text = value.stringValue else { return wrong(type == .path ? "a path" : "text") }
            if text.isEmpty { return SettingsError(path, "is empty; \(help)") }
            if type == .url, !(text.hasPrefix("http://") || text.hasPrefix("https://")) {
                return SettingsError(path, "'\(text)' is not an http:// or https:// address")
            }
            if secret, text == ConfigValue.hiddenSecret {
                return SettingsError(path, "is '\(ConfigValue.hiddenSecret)', a secret hidden by an export; write the real value (or export with --include-secrets)")
            }
        case .integer:
            guard let n = value.integerValue else { return wrong("a whole number") }
            if let range, !range.contains(Double(n)) { return SettingsError(path, "\(n) is out of range: \(Self.describe(range))") }
        case .number:
            guard let n = value.numberValue else { return wrong("a number") }
            let shown = n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            if let range, !range.contains(n) { return SettingsError(path, "\(shown) is out of range: \(Self.describe(range))") }
        case .boolean:
            guard value.booleanValue != nil else { return wrong("true or false") }
        case .size:
            let bytes: Int64?
            do { bytes = try ByteSize.parse(value, path: path) } catch let e as SettingsError { return e } catch { return wrong("a size like 10M") }
            if let range, let bytes, !range.contains(Double(bytes)) {
                return SettingsError(path, "\(value.stringValue ?? String(bytes)) is out of range: \(Self.describeBytes(range))")
            }
        case .names:
            switch value {
            case .list(let items):
                for (i, item) in items.enumerated() {
                    guard let s = item.stringValue else { return SettingsError("\(path)[\(i)]", "expected a site name") }
                    if !Names.isValid(s) { return SettingsError("\(path)[\(i)]", "'\(s)' is not a valid site name") }
                }
            case .string(let s):
                if !s.isEmpty && !Names.isValid(s) { return SettingsError(path, "'\(s)' is not a valid site name") }
            default:
                return wrong("a list of site names")
            }
        }
        return nil
    }

    /// A range of sizes as a person writes them (`from 5M to 5G`).
    static func describeBytes(_ range: ClosedRange<Double>) -> String {
        func n(_ d: Double) -> String {
            for (unit, factor) in [("G", Double(1 << 30)), ("M", Double(1 << 20)), ("K", Double(1 << 10))] where d >= factor && (d / factor).rounded() == d / factor {
                return "\(Int(d / factor))\(unit)"
            }
            return String(Int(d))
        }
        if range.upperBound == .greatestFiniteMagnitude { return "at least \(n(range.lowerBound))" }
        return "from \(n(range.lowerBound)) to \(n(range.upperBound))"
    }

    static func describe(_ range: ClosedRange<Double>) -> String {
        func n(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
        if range.upperBound == .greatestFiniteMagnitude { return "at least \(n(range.lowerBound))" }
        return "from \(n(range.lowerBound)) to \(n(range.upperBound))"
    }
}

/// Everything settings need to know about one provider: its keys and the rules between them.
public struct ProviderSchema: Sendable {
    public var provider: String
    /// Keys this provider adds to the common site keys.
    public var options: [OptionSpec]
    /// Sites of this provider need `roots` (every built-in provider does).
    public var needsRoots: Bool
    /// Groups of keys of which exactly one must be set (`password` or `key_file`).
    public var exactlyOneOf: [[String]]
    /// Rules between keys, or on a value's form, that types cannot say: given a site's merged settings, one line
    /// per problem, naming the key and the fix. Checked at import, so a site that cannot work is refused there.
    public var rules: (@Sendable ([String: ConfigValue]) -> [String])?
    /// Keys inside a map option (an external provider's `options`) whose values are never shown.
    public var nestedSecretKeys: Set<String>

    public init(provider: String, options: [OptionSpec], needsRoots: Bool = true, exactlyOneOf: [[String]] = [],
                nestedSecretKeys: Set<String> = [], rules: (@Sendable ([String: ConfigValue]) -> [String])? = nil) {
        self.provider = provider
        self.options = options
        self.needsRoots = needsRoots
        self.exactlyOneOf = exactlyOneOf
        self.nestedSecretKeys = nestedSecretKeys
        self.rules = rules
    }

    /// The provider's keys and the keys every site has.
    public var allOptions: [OptionSpec] { SiteConfig.commonOptions + options }

    public func option(_ key: String) -> OptionSpec? { allOptions.first { $0.key == key } }

    public var secretKeys: Set<String> { Set(allOptions.filter(\.secret).map(\.key)).union(nestedSecretKeys) }
}

/// "Did you mean …?": the known word closest to a typo, if one is close enough to be a likely intent.
public enum Suggestion {
    public static func nearest(to word: String, among candidates: [String]) -> String? {
        let limit = max(2, word.count / 3)
        let lower = word.lowercased()
        var best: (word: String, distance: Int)?
        for candidate in candidates.sorted() {
            let d = distance(lower, candidate.lowercased())
            if d <= limit, d < (best?.distance ?? Int.max) { best = (candidate, d) }
        }
        return best?.word
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution: Int = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// "unknown key; did you mean 'host'? (…: a, b, c)"
    public static func unknownKey(_ key: String, known: [String], what: String) -> String {
        let hint = nearest(to: key, among: known).map { "did you mean '\($0)'? " } ?? ""
        return "unknown key; \(hint)(\(what): \(known.sorted().joined(separator: ", ")))"
    }
}
