import Foundation

/// A path template: the publish folder (`{root[work]}/{project}/{folder}/publish/{product}/v{version:03}`) or a
/// work file (`{root[work]}/{project}/{folder}/work/{task}/{folder_name}_{task}_v{version:03}{ext}`).
///
/// Fields are `{name}` or `{name:0N}` (zero-padded number). The template is parsed, never the values, so a
/// folder or product containing braces is copied literally.
public struct PathTemplate: Sendable, Equatable {
    /// What a template names: the folder published files go into, or an artist's work file.
    public enum Kind: String, Sendable, Equatable {
        case publish = "publish_template"
        case work = "work_template"

        var fields: [String] {
            switch self {
            case .publish: return ["project", "folder", "product", "version", "name", "task", "host"]
            case .work: return ["project", "folder", "folder_name", "product", "version", "task", "host", "ext"]
            }
        }

        /// Fields without which two different things would get the same path.
        var needed: [String] {
            switch self {
            case .publish: return ["product", "version"]
            case .work: return ["task", "version"]
            }
        }
    }

    public static let defaultPublish = "{root[work]}/{project}/{folder}/publish/{product}/v{version:03}"
    public static let defaultWork = "{root[work]}/{project}/{folder}/work/{task}/{folder_name}_{task}_v{version:03}{ext}"

    /// `defaultPublish`, built without parsing (a test checks both agree), so no code path can fail on it.
    public static let standardPublish = PathTemplate(text: defaultPublish, rootName: "work", pieces: [
        .field(name: "project", width: nil), .literal("/"), .field(name: "folder", width: nil), .literal("/publish/"),
        .field(name: "product", width: nil), .literal("/v"), .field(name: "version", width: 3),
    ])

    /// `defaultWork`, built without parsing (a test checks both agree).
    public static let standardWork = PathTemplate(text: defaultWork, rootName: "work", pieces: [
        .field(name: "project", width: nil), .literal("/"), .field(name: "folder", width: nil), .literal("/work/"),
        .field(name: "task", width: nil), .literal("/"), .field(name: "folder_name", width: nil), .literal("_"),
        .field(name: "task", width: nil), .literal("_v"), .field(name: "version", width: 3), .field(name: "ext", width: nil),
    ], kind: .work)

    init(text: String, rootName: String, pieces: [Piece], kind: Kind = .publish) {
        self.text = text
        self.rootName = rootName
        self.pieces = pieces
        self.kind = kind
    }

    enum Piece: Equatable, Sendable {
        case literal(String)
        case field(name: String, width: Int?)

        var width: Int? {
            if case .field(_, let width) = self { return width }
            return nil
        }
    }

    public let text: String
    let pieces: [Piece]
    public let rootName: String
    public let kind: Kind

    public init(_ text: String, kind: Kind = .publish) throws {
        self.text = text
        self.kind = kind
        let key = kind.rawValue
        let example = kind == .publish ? Self.defaultPublish : Self.defaultWork
        guard let (root, rest) = RootlessPath.split(text) else {
            throw SettingsError(key, "'\(text)' must start with {root[NAME]}/")
        }
        rootName = root
        var pieces: [Piece] = []
        var literal = ""
        var i = rest.startIndex
        while i < rest.endIndex {
            let c = rest[i]
            if c == "{" {
                guard let close = rest[i...].firstIndex(of: "}") else {
                    throw SettingsError(key, "unclosed '{' in '\(text)'")
                }
                let body = rest[rest.index(after: i)..<close]
                let parts = body.split(separator: ":", maxSplits: 1).map(String.init)
                guard let name = parts.first, kind.fields.contains(name) else {
                    throw SettingsError(key,
                        "unknown field '{\(body)}'; use \(kind.fields.map { "{\($0)}" }.joined(separator: ", "))")
                }
                var width: Int? = nil
                if parts.count == 2 {
                    guard let w = Int(parts[1]), w > 0, w < 20 else {
                        throw SettingsError(key, "'{\(body)}': the width must be written like {version:03}")
                    }
                    width = w
                }
                if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
                pieces.append(.field(name: name, width: width))
                i = rest.index(after: close)
            } else {
                literal.append(c)
                i = rest.index(after: i)
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
        // Every version (of every product, or every task's work file) gets its own path, inside the root.
        for needed in kind.needed where !pieces.contains(where: { $0 == .field(name: needed, width: $0.width) }) {
            throw SettingsError(key, "'\(text)' has no {\(needed)}: different \(kind == .publish ? "products' versions" : "tasks' versions") would get the same path; add it (e.g. \(example))")
        }
        let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments where segment.isEmpty || segment == "." || segment == ".." {
            throw SettingsError(key, "'\(text)' has an empty, '.' or '..' part: paths must stay inside the root; write it like \(example)")
        }
        if kind == .work, let folder = segments.dropLast().first(where: { $0.contains("{version") }) {
            throw SettingsError(key, "'\(text)': {version} may only be in the file name, not in the folder '\(folder)'")
        }
    }

    public static let fields = Kind.publish.fields

    /// The rootless folder a representation's files are published into; refused when a field the template uses
    /// is empty (`{task}` without a task) and would leave an empty path part.
    public func folder(for context: RepresentationContext) throws -> String {
        let folder = render(context)
        let parts = RootlessPath.split(folder)?.relative.split(separator: "/", omittingEmptySubsequences: false) ?? []
        if parts.contains(where: \.isEmpty) || folder.hasSuffix("/") {
            throw SettingsError("publish_template", "'\(text)' leaves an empty folder name for this representation (a field it uses, like {task} or {host}, was not given)")
        }
        return folder
    }

    /// The rootless folder a representation's files are published into.
    public func render(_ context: RepresentationContext) -> String {
        render { name in
            switch name {
            case "project": return context.project
            case "folder": return context.folder
            case "product": return context.product
            case "name": return context.name
            case "task": return context.task ?? ""
            case "host": return context.host ?? ""
            default: return nil
            }
        } version: { String(context.version) }
    }

    /// Renders with the values `value` gives (`version` separately: it is padded to the field's width).
    func render(_ value: (String) -> String?, version: () -> String) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let s): out += s
            case .field(let name, let width):
                if name == "version" {
                    let digits = version()
                    out += String(repeating: "0", count: max(0, (width ?? 0) - digits.count)) + digits
                } else {
                    out += value(name) ?? ""
                }
            }
        }
        return RootlessPath.make(root: rootName, relative: out)
    }
}

/// What names an artist's work file for one task: everything in `work_template` but the version.
public struct WorkFileKey: Sendable, Equatable {
    public var project: String
    public var folder: String
    public var task: String
    public var host: String?
    public var product: String?
    /// With its dot: `.ma`.
    public var ext: String

    public init(project: String, folder: String, task: String, host: String? = nil, product: String? = nil, ext: String) {
        self.project = project
        self.folder = folder
        self.task = task
        self.host = host
        self.product = product
        self.ext = ext
    }

    func value(_ name: String) -> String? {
        switch name {
        case "project": return project
        case "folder": return folder
        case "folder_name": return folder.split(separator: "/").last.map(String.init) ?? folder
        case "task": return task
        case "host": return host ?? ""
        case "product": return product ?? ""
        case "ext": return ext
        default: return nil
        }
    }
}

extension PathTemplate {
    /// The rootless path of version `version` of a work file.
    public func workPath(_ key: WorkFileKey, version: Int) throws -> String {
        let path = render(key.value) { String(version) }
        let parts = RootlessPath.split(path)?.relative.split(separator: "/", omittingEmptySubsequences: false) ?? []
        if parts.contains(where: \.isEmpty) {
            throw SettingsError(kind.rawValue, "'\(text)' leaves an empty folder name for this work file (a field it uses, like {host}, was not given)")
        }
        return path
    }

    /// The rootless folder of a task's work files, and what version a file name in it is (nil: not one of them).
    /// A key without `ext` matches any extension.
    public func workVersions(_ key: WorkFileKey) throws -> (folder: String, version: @Sendable (String) -> Int?) {
        let versionMark = "\u{1}VERSION\u{1}", extMark = "\u{1}EXT\u{1}"
        let path = render({ name in name == "ext" && key.ext.isEmpty ? extMark : key.value(name) }, version: { versionMark })
        guard let split = RootlessPath.split(path), let slash = split.relative.lastIndex(of: "/") else {
            throw SettingsError(kind.rawValue, "'\(text)' has no folder for work files")
        }
        let folder = RootlessPath.make(root: split.root, relative: String(split.relative[..<slash]))
        let name = String(split.relative[split.relative.index(after: slash)...])
        guard name.components(separatedBy: versionMark).count == 2 else {
            throw SettingsError(kind.rawValue, "'\(text)' must have {version} once, in the file name")
        }
        // Literal text escaped; the version is digits, a wildcard extension is a dot and anything without a slash.
        var pattern = "^"
        for piece in name.components(separatedBy: versionMark).enumerated().flatMap({ i, part -> [String] in
            i == 0 ? [part] : ["\u{2}", part]
        }) {
            if piece == "\u{2}" { pattern += "([0-9]+)"; continue }
            for (j, literal) in piece.components(separatedBy: extMark).enumerated() {
                if j > 0 { pattern += "(?:\\.[^/]*)?" }
                pattern += NSRegularExpression.escapedPattern(for: literal)
            }
        }
        pattern += "$"
        let regex = try NSRegularExpression(pattern: pattern)
        let box = RegexBox(regex)
        return (folder, { candidate in
            let range = NSRange(candidate.startIndex..., in: candidate)
            guard let match = box.regex.firstMatch(in: candidate, range: range), match.numberOfRanges > 1,
                  let digits = Range(match.range(at: 1), in: candidate) else { return nil }
            return Int(candidate[digits])
        })
    }
}

/// NSRegularExpression is immutable and safe to share; Swift 6 needs to be told.
final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}

/// What identifies a published representation.
public struct RepresentationContext: Sendable, Equatable, Codable {
    public var project: String
    public var folder: String
    public var product: String
    public var version: Int
    public var name: String
    public var task: String?
    public var host: String?
    /// What kind of product this is (`workfile`, `model`, `render`, …); nil → derived from the product name.
    public var productType: String?

    public init(project: String, folder: String, product: String, version: Int, name: String,
                task: String? = nil, host: String? = nil, productType: String? = nil) {
        self.project = project
        self.folder = folder
        self.product = product
        self.version = version
        self.name = name
        self.task = task
        self.host = host
        self.productType = productType
    }

    /// The product type as given, else `workfile` for a product named like OpenPype's (`workfileModeling`),
    /// else the product name.
    public var effectiveProductType: String {
        if let productType, !productType.isEmpty { return productType }
        return product.hasPrefix(Self.workfile) ? Self.workfile : product
    }

    public static let workfile = "workfile"

    /// Folder may be a hierarchy (`chars/anna`); every other part is a single path segment.
    public func validate() throws {
        try Names.validateProject(project)
        func segmentOK(_ s: String) -> Bool {
            !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\\") && !s.contains("\0")
        }
        let folderParts = folder.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !folder.isEmpty, !folder.hasPrefix("/"), folderParts.allSatisfy(segmentOK) else {
            throw SettingsError("folder", "'\(folder)' must be a relative path like 'chars/anna' (no '..', no empty parts)")
        }
        for (label, value) in [("product", product), ("name", name)] where !segmentOK(value) {
            throw SettingsError(label, "'\(value)' must be a single non-empty path segment")
        }
        for (label, value) in [("task", task), ("host", host)] {
            if let value, !value.isEmpty, !segmentOK(value) {
                throw SettingsError(label, "'\(value)' must be a single path segment")
            }
        }
        guard version >= 0 else { throw SettingsError("version", "must be 0 or more") }
    }
}
