import SiteSyncModel

/// One page of a project's representations, filtered and sorted: what the Sync Queue table, the HTTP API and
/// `status --page` ask for.
public struct RepresentationQuery: Sendable, Equatable {
    public enum Sort: String, Sendable, CaseIterable {
        case folder, product, version, created, size, priority
    }

    public var project: String
    public var folder: String?
    public var product: String?
    public var name: String?
    public var version: Int?
    /// Only representations with rows on this site…
    public var site: String?
    /// …in this state there (needs `site`).
    public var status: RepresentationSiteStatus?
    /// Text in the folder, product or name, in any case.
    public var text: String?
    public var sort: Sort
    public var descending: Bool
    /// 1-based.
    public var page: Int
    public var pageSize: Int

    public static let maxPageSize = 500

    public init(project: String, folder: String? = nil, product: String? = nil, name: String? = nil, version: Int? = nil,
                site: String? = nil, status: RepresentationSiteStatus? = nil, text: String? = nil, sort: Sort = .folder,
                descending: Bool = false, page: Int = 1, pageSize: Int = 50) {
        self.project = project
        self.folder = folder
        self.product = product
        self.name = name
        self.version = version
        self.site = site
        self.status = status
        self.text = text
        self.sort = sort
        self.descending = descending
        self.page = page
        self.pageSize = pageSize
    }

    /// Rows before the page; saturates rather than overflow (the engine refuses such a page first).
    public var offset: Int {
        let (product, overflow) = (max(1, page) - 1).multipliedReportingOverflow(by: max(0, pageSize))
        return overflow ? Int.max : product
    }

    /// `text` as a LIKE pattern (`%`, `_` and `\` escaped with `\`).
    public var likePattern: String? {
        guard let text, !text.isEmpty else { return nil }
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        return "%" + escaped + "%"
    }

    /// SQL for a representation's state on a site from its `file_sites` rows (`GROUP BY representation_id`), the
    /// same precedence as `RepresentationSiteStatus(files:)`. Both catalogs store states as their raw values.
    public static let derivedStatusSQL: String = {
        func count(_ s: FileSyncStatus) -> String { "SUM(CASE WHEN status = '\(s.rawValue)' THEN 1 ELSE 0 END)" }
        return """
            CASE WHEN SUM(CASE WHEN status <> 'synced' THEN 1 ELSE 0 END) = 0 THEN 'synced'
                 WHEN \(count(.failed)) > 0 THEN 'failed' WHEN \(count(.corrupt)) > 0 THEN 'corrupt'
                 WHEN \(count(.missing)) > 0 THEN 'missing' WHEN \(count(.inProgress)) > 0 THEN 'in_progress'
                 WHEN \(count(.paused)) > 0 THEN 'paused' ELSE 'queued' END
            """
    }()

    /// For a state other than synced: the condition (on `file_sites`) that narrows the grouping to representations
    /// with at least one row in that state on the site — which each of them has (a representation is failed only if
    /// a file is, queued only if a file is queued and none is worse). Spelled with the state as a literal, so the
    /// per-state partial indexes serve it. nil for synced (every row must be looked at).
    public static func narrowingSQL(_ status: RepresentationSiteStatus) -> String? {
        status == .synced ? nil : "status = '\(status.rawValue)'"
    }

    /// The ORDER BY keys for `r` (a representation row); `size` and `priority` are subqueries a catalog supplies.
    public func orderSQL(size: String, priority: String) -> String {
        let keys: [String]
        switch sort {
        case .folder: keys = ["r.folder", "r.product", "r.version", "r.name"]
        case .product: keys = ["r.product", "r.folder", "r.version", "r.name"]
        case .version: keys = ["r.version", "r.folder", "r.product", "r.name"]
        case .created: keys = ["r.created_at", "r.folder", "r.product", "r.version", "r.name"]
        case .size: keys = [size, "r.folder", "r.product", "r.version", "r.name"]
        case .priority: keys = [priority, "r.folder", "r.product", "r.version", "r.name"]
        }
        // The id last: pages never overlap or skip when two rows sort the same.
        return (keys + ["r.id"]).map { $0 + (descending ? " DESC" : "") }.joined(separator: ", ")
    }
}

/// A page of representations and how many match in all.
public struct RepresentationPage: Sendable {
    public var items: [RepresentationSummary]
    public var total: Int
    public var page: Int
    public var pageSize: Int

    public init(items: [RepresentationSummary], total: Int, page: Int, pageSize: Int) {
        self.items = items
        self.total = total
        self.page = page
        self.pageSize = pageSize
    }
}
