import Foundation
import SiteSyncModel

/// Where SiteSync keeps what it knows, in three roles: settings and projects, representations and the user
/// operations on them, and the work queue the sync servers lease from. A full catalog plays all three; the
/// engine is the only writer of transfer state, so leases, retries and alternates stay consistent whichever
/// database backs it. Every mutation takes the time explicitly (`now:`), so tests control it.
///
/// Every implementation must pass `CatalogConformance` (SiteSyncTestSupport).
public typealias Catalog = SettingsCatalog & RepresentationCatalog & WorkQueue
