import Foundation
import Logging
import SiteSyncProviders

/// What we read of a Drive file.
struct DriveFile: Sendable {
    var id: String
    var name: String
    var size: Int64
    var modified: Date?
    var created: String
    var sha256: String?
    var parents: [String]

    init?(_ json: [String: Any]) {
        guard let id = json["id"] as? String else { return nil }
        self.id = id
        name = json["name"] as? String ?? ""
        size = Int64(json["size"] as? String ?? "") ?? (json["size"] as? Int).map(Int64.init) ?? 0
        modified = (json["modifiedTime"] as? String).flatMap(DriveTime.parse)
        created = json["createdTime"] as? String ?? ""
        sha256 = (json["sha256Checksum"] as? String)?.lowercased()
        parents = json["parents"] as? [String] ?? []
    }
}

/// Drive is id-based: paths are resolved folder by folder, and the answers are cached per site.
///
/// Many uploads into one new folder start at once; each path is resolved (and created) by one task that the
/// others wait for, so one folder is made, not one per upload.
actor DriveTree {
    static let folderType = "application/vnd.google-apps.folder"
    let client: DriveClient
    let logger: Logger
    var folders: [String: String] = [:]
    var inflight: [String: Task<String, any Error>] = [:]
    var drives: [String: String] = [:]

    init(client: DriveClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A Drive query string literal: `'it\'s'` (backslashes and quotes escaped).
    static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    static let listFields = "nextPageToken,files(id,name,mimeType,size,sha256Checksum,md5Checksum,modifiedTime,createdTime,parents)"

    /// Every non-trashed child of `parent` named `name` (all pages), oldest first: duplicates are legal in Drive,
    /// and the oldest wins so every machine picks the same one.
    func children(named name: String, in parent: String, folders wanted: Bool?) async throws -> [DriveFile] {
        var q = "name = \(Self.quote(name)) and \(Self.quote(parent)) in parents and trashed = false"
        if let wanted { q += " and mimeType \(wanted ? "=" : "!=") \(Self.quote(Self.folderType))" }
        var out: [DriveFile] = []
        var page: String?
        repeat {
            var query = [("q", q), ("fields", Self.listFields), ("pageSize", "100"), ("supportsAllDrives", "true"),
                         ("includeItemsFromAllDrives", "true"), ("spaces", "drive")]
            if let page { query.append(("pageToken", page)) }
            let json = try await client.get("list \(name)", "/drive/v3/files", query)
            out += ((json["files"] as? [[String: Any]]) ?? []).compactMap(DriveFile.init)
            page = json["nextPageToken"] as? String
        } while page != nil
        return out.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    /// The id of a drive's root: `My Drive` (the service account's own) or a shared drive by exact name.
    func driveRoot(_ name: String) async throws -> String {
        if name == "My Drive" { return "root" }
        if let id = drives[name] { return id }
        var page: String?
        var matches: [String] = []
        repeat {
            var query = [("pageSize", "100"), ("fields", "nextPageToken,drives(id,name)")]
            if let page { query.append(("pageToken", page)) }
            let json = try await client.get("list shared drives", "/drive/v3/drives", query)
            for drive in (json["drives"] as? [[String: Any]]) ?? [] where drive["name"] as? String == name {
                if let id = drive["id"] as? String { matches.append(id) }
            }
            page = json["nextPageToken"] as? String
        } while page != nil
        guard let id = matches.sorted().first else {
            throw ProviderError(.configuration,
                "site '\(client.settings.site)': no shared drive named '\(name)' is shared with the service account; share it, or use /My Drive/… for the account's own drive")
        }
        if matches.count > 1 { logger.warning("site \(client.settings.site): \(matches.count) shared drives are named '\(name)'; using \(id)") }
        drives[name] = id
        return id
    }

    /// The folder at `path` (`/My Drive/studio/robots`), created if `create` and missing — but only below
    /// `root`: a site root (and anything above it) is never created; missing, it is `.unavailable`.
    func folder(_ path: String, create: Bool, root: String? = nil) async throws -> String {
        if let id = folders[path] { return id }
        if let task = inflight[path] { return try await task.value }
        let task = Task { try await self.resolve(path, create: create, root: root) }
        inflight[path] = task
        defer { inflight[path] = nil }
        let id = try await task.value
        folders[path] = id
        return id
    }

    private func resolve(_ path: String, create: Bool, root: String?) async throws -> String {
        let parts = path.split(separator: "/").map(String.init)
        guard let drive = parts.first else { throw ProviderError(.configuration, "'\(path)' names no drive") }
        if parts.count == 1 { return try await driveRoot(drive) }
        let parentPath = "/" + parts.dropLast().joined(separator: "/")
        let parent = try await folder(parentPath, create: create, root: root)
        let name = parts[parts.count - 1]
        let found = try await children(named: name, in: parent, folders: true)
        if let id = found.first?.id {
            if found.count > 1 { logger.warning("site \(client.settings.site): \(found.count) folders named '\(name)' in \(parentPath); using the oldest (\(id))") }
            return id
        }
        if let root, !path.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
            throw ProviderError(.unavailable, "site '\(client.settings.site)': its root folder \(path) does not exist on Drive; create it and share it with the service account (SiteSync never creates a site root)")
        }
        guard create else {
            throw ProviderError(.notFound, "site '\(client.settings.site)': folder \(path) does not exist")
        }
        let created = try await client.json("create folder \(path)", method: .POST, "/drive/v3/files",
                                            [("supportsAllDrives", "true"), ("fields", "id")],
                                            body: ["name": name, "mimeType": Self.folderType, "parents": [parent]])
        guard let id = created["id"] as? String else { throw ProviderError(.transient, "creating \(path): no id in Google's answer") }
        return id
    }

    /// Forgets cached ids under `path` (after a 404: someone moved or deleted a folder).
    func forget(_ path: String) {
        for key in folders.keys where key == path || key.hasPrefix(path + "/") { folders[key] = nil }
    }

    /// The file at `path`: the oldest of several with the same name (reported).
    func file(_ path: String) async throws -> DriveFile? {
        let folderPath = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let parent: String
        do {
            parent = try await folder(folderPath, create: false)
        } catch let e as ProviderError where e.kind == .notFound {
            return nil
        }
        let found = try await children(named: name, in: parent, folders: false)
        if found.count > 1 {
            logger.warning("site \(client.settings.site): \(found.count) files named '\(name)' in \(folderPath); using the oldest (\(found[0].id))")
        }
        return found.first
    }
}
