import Foundation
import SiteSyncModel

/// Where SiteSync keeps what it knows, in four roles: settings and projects, representations and the user
/// operations on them, the work queue the sync servers lease from, and an administrator's maintenance (health,
/// copying to another database), and a fifth that reads what the servers are doing (activity). A full catalog plays them all; the
/// engine is the only writer of transfer state, so leases, retries and alternates stay consistent whichever
/// database backs it. Every mutation takes the time explicitly (`now:`), so tests control it.
///
/// Every implementation must pass `CatalogConformance` (SiteSyncTestSupport).
public typealias Catalog = SettingsCatalog & RepresentationCatalog & WorkQueue & CatalogMaintenance & ActivityCatalog
