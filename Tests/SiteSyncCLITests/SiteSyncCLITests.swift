import Testing
import SiteSyncTestSupport
@Test func probe() { supportCheck(1) }
