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

        var width: Int? {
            if case .field(_, let width) = self { return width }
            return nil
        }
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
        // Every version of every product gets its own folder, inside the root.
        for needed in ["product", "version"] where !pieces.contains(where: { $0 == .field(name: needed, width: $0.width) }) {
            throw SettingsError("publish_template", "'\(text)' has no {\(needed)}: versions of different products would overwrite each other's folders; add it (e.g. \(Self.defaultPublish))")
        }
        for segment in rest.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty || segment == "." || segment == ".." {
                throw SettingsError("publish_template", "'\(text)' has an empty, '.' or '..' part: published files must stay inside the root; write it like \(Self.defaultPublish)")
            }
        }
    }

    public static let fields = ["project", "folder", "product", "version", "name", "task", "host"]

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
