/// The publish path template: `{root[work]}/{project}/{folder}/publish/{product}/v{version:03}`.
///
/// Fields are `{name}` or `{name:0N}` (zero-padded number). The template is parsed, never the values, so a
/// folder or product containing braces is copied literally.
public struct PathTemplate: Sendable, Equatable {
    public static let defaultPublish = "{root[work]}/{project}/{folder}/publish/{product}/v{version:03}"

    /// `defaultPublish`, built without parsing (a test checks both agree), so no code path can fail on it.
    public static let standardPublish = PathTemplate(text: defaultPublish, rootName: "work", pieces: [
        .field(name: "project", width: nil), .literal("/"), .field(name: "folder", width: nil), .literal("/publish/"),
        .field(name: "product", width: nil), .literal("/v"), .field(name: "version", width: 3),
    ])

    init(text: String, rootName: String, pieces: [Piece]) {
        self.text = text
        self.rootName = rootName
        self.pieces = pieces
    }

    enum Piece: Equatable, Sendable {
        case literal(String)
        case field(name: String, width: Int?)
    }

    public let text: String
    let pieces: [Piece]
    public let rootName: String

    public init(_ text: String) throws {
        self.text = text
        guard let (root, rest) = RootlessPath.split(text) else {
            throw SettingsError("publish_template", "'\(text)' must start with {root[NAME]}/")
        }
        rootName = root
        var pieces: [Piece] = []
        var literal = ""
        var i = rest.startIndex
        while i < rest.endIndex {
            let c = rest[i]
            if c == "{" {
                guard let close = rest[i...].firstIndex(of: "}") else {
                    throw SettingsError("publish_template", "unclosed '{' in '\(text)'")
                }
                let body = rest[rest.index(after: i)..<close]
                let parts = body.split(separator: ":", maxSplits: 1).map(String.init)
                guard let name = parts.first, Self.fields.contains(name) else {
                    throw SettingsError("publish_template",
                        "unknown field '{\(body)}'; use \(Self.fields.map { "{\($0)}" }.joined(separator: ", "))")
                }
                var width: Int? = nil
                if parts.count == 2 {
                    guard let w = Int(parts[1]), w > 0, w < 20 else {
                        throw SettingsError("publish_template", "'{\(body)}': the width must be written like {version:03}")
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
    }

    public static let fields = ["project", "folder", "product", "version", "name", "task", "host"]

    /// The rootless folder a representation's files are published into.
    public func render(_ context: RepresentationContext) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let s): out += s
            case .field(let name, let width):
                switch name {
                case "version":
                    let digits = String(context.version)
                    out += String(repeating: "0", count: max(0, (width ?? 0) - digits.count)) + digits
                case "project": out += context.project
                case "folder": out += context.folder
                case "product": out += context.product
                case "name": out += context.name
                case "task": out += context.task ?? ""
                case "host": out += context.host ?? ""
                default: break
                }
            }
        }
        return RootlessPath.make(root: rootName, relative: out)
    }
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

    public init(project: String, folder: String, product: String, version: Int, name: String,
                task: String? = nil, host: String? = nil) {
        self.project = project
        self.folder = folder
        self.product = product
        self.version = version
        self.name = name
        self.task = task
        self.host = host
    }

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
