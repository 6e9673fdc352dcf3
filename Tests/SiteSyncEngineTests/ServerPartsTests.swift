import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders
import Testing
@testable import SiteSyncEngine

/// The server's deciding parts, driven by a clock moved by hand: no sleeps, milliseconds each.
@Suite("Server parts: failure policy, plan, site health")
struct ServerPartsTests {
    let policy = RetryPolicy(count: 3, base: 10, max: 3600)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a failure counts a try and backs off, doubling, until the tries are used up")
    func backoff() {
        let error = ProviderError(.integrity, "does not match")
        let first = FailurePolicy.decide(error, tries: 0, policy: policy, now: now, jitter: 0.5)
        #expect(first.decision == .retry(at: now.addingTimeInterval(10), countsAsTry: true))
        #expect(first.message == "does not match" && !first.siteTrouble)
        let second = FailurePolicy.decide(error, tries: 1, policy: policy, now: now, jitter: 0.5)
        #expect(second.decision == .retry(at: now.addingTimeInterval(20), countsAsTry: true))
        #expect(FailurePolicy.decide(error, tries: 2, policy: policy, now: now, jitter: 0.5).decision == .fail)
        // Jitter spreads files that failed together over ±50 %.
        #expect(FailurePolicy.decide(error, tries: 0, policy: policy, now: now, jitter: 0).decision
                == .retry(at: now.addingTimeInterval(5), countsAsTry: true))
    }

    @Test("quota and an unreachable site retry without using up a try; cancellation gives the lease back")
    func notTheFilesFault() {
        let quota = FailurePolicy.decide(ProviderError(.quota, "rate limit"), tries: 2, policy: policy, now: now, jitter: 0.5)
        #expect(quota.decision == .retry(at: now.addingTimeInterval(10), countsAsTry: false) && !quota.siteTrouble)
        let down = FailurePolicy.decide(ProviderError(.unavailable, "no route"), tries: 2, policy: policy, now: now, jitter: 0.5)
        #expect(down.decision == .retry(at: now.addingTimeInterval(10), countsAsTry: false) && down.siteTrouble)
        #expect(FailurePolicy.decide(CancellationError(), tries: 0, policy: policy, now: now, jitter: 0.5).decision == .release)
        #expect(FailurePolicy.decide(ProviderError(.cancelled, "x"), tries: 0, policy: policy, now: now, jitter: 0.5).decision == .release)
        // An error that is not a provider's still counts (a catalog hiccup mid-transfer).
        #expect(FailurePolicy.decide(CatalogError.storage("disk I/O"), tries: 0, policy: policy, now: now, jitter: 0.5).decision
                == .retry(at: now.addingTimeInterval(10), countsAsTry: true))
    }

    static let studio = """
        sites:
          backup: {provider: local_drive, roots: {work: /b}}
          vendor: {provider: local_drive, roots: {work: /s}, alternative_sites: [studio]}
          off: {provider: local_drive, roots: {work: /o}, enabled: false}
        projects:
          default: {sitesync: {active_site: local, remote_site: studio, always_accessible_on: [backup]}}
          robots: {roots: {work: /s}}
          aliens: {roots: {work: /a}, sitesync: {enabled: false}}
          moons: {roots: {work: /m}, sitesync: {remote_site: off}}
        """

    func resolved(_ studio: String, local: String = "site_id: ws-anna\ndefault: {roots: {work: /home/anna}}",
                  paused: Set<String> = []) throws -> [(record: ProjectRecord, resolved: Result<EffectiveProject, any Error>)] {
        let ctx = SettingsContext(studio: try StudioSettings(yaml: studio, source: "s"),
                                  local: try LocalSettings(yaml: local, source: "l"), siteID: "ws-anna")
        return ["robots", "aliens", "moons", "ghost"].map { name in
            (record: ProjectRecord(name: name, paused: paused.contains(name)),
             resolved: Result<EffectiveProject, any Error> { try ctx.project(name) })
        }
    }

    @Test("the plan: uploads, downloads and always-accessible copies; none between alternates or to disabled sites")
    func plan() throws {
        let plan = ServerPlan.build(projects: try resolved(Self.studio), options: ServerOptions())
        typealias P = ServerPlan.Pair
        // ghost has no block of its own: it inherits `default`.
        #expect(plan.pairs[P(source: "ws-anna", target: "studio")] == ["ghost", "robots"])
        #expect(plan.pairs[P(source: "studio", target: "ws-anna")] == ["ghost", "robots"])
        #expect(plan.pairs[P(source: "ws-anna", target: "backup")]?.sorted() == ["ghost", "moons", "robots"])
        #expect(plan.pairs[P(source: "ws-anna", target: "off")] == nil)   // a disabled site moves nothing
        #expect(plan.pairs.keys.allSatisfy { $0.target != "vendor" })      // vendor is studio: no transfer
        #expect(plan.projects["aliens"] == nil)                            // Site Sync off for it
        #expect(plan.projects.keys.sorted() == ["ghost", "moons", "robots"])  // ghost inherits `default`
        #expect(plan.warnings.isEmpty)
    }

    @Test("the plan follows pause, --project, --active-site and settings changes")
    func planChanges() throws {
        let paused = ServerPlan.build(projects: try resolved(Self.studio, paused: ["robots"]), options: ServerOptions())
        #expect(paused.projects["robots"] == nil)
        let only = ServerPlan.build(projects: try resolved(Self.studio), options: ServerOptions(projects: ["moons"]))
        #expect(only.projects.keys.sorted() == ["moons"])
        let asStudio = ServerPlan.build(projects: try resolved(Self.studio), options: ServerOptions(activeSite: "studio"))
        #expect(asStudio.pairs[.init(source: "studio", target: "backup")]?.contains("robots") == true)
        #expect(asStudio.pairs.keys.allSatisfy { $0.source != "ws-anna" })
        let edited = Self.studio.replacingOccurrences(of: "always_accessible_on: [backup]", with: "always_accessible_on: []")
        let after = ServerPlan.build(projects: try resolved(edited), options: ServerOptions())
        #expect(after.pairs[.init(source: "ws-anna", target: "backup")] == nil)
        // A project whose settings do not resolve is skipped with a warning; the others still run.
        let broken = ServerPlan.build(projects: try resolved(Self.studio, local: "site_id: ws-anna\nprojects: {robots: {remote_site: nowhere}}"),
                                      options: ServerOptions())
        #expect(broken.projects["robots"] == nil && broken.projects["moons"] != nil)
        #expect(broken.warnings.contains { $0.contains("robots") && $0.contains("nowhere") })
    }

    @Test("site health: a failed site is rechecked after 5 s, a working one after 5 min")
    func health() {
        let clock = ManualClock(now)
        var health = SiteHealth<String>()
        #expect(health.fresh("nas", now: clock.now()) == nil)   // never checked: check now
        health.record("nas", ok: false, message: "unmounted", now: clock.now())
        clock.advance(by: 4.9)
        #expect(health.fresh("nas", now: clock.now())?.message == "unmounted")   // still skipped
        #expect(!health.knownHealthy("nas", now: clock.now()))
        clock.advance(by: 0.2)
        #expect(health.fresh("nas", now: clock.now()) == nil)   // due again
        let before = health.record("nas", ok: true, now: clock.now())
        #expect(before?.ok == false)                            // the caller logs "available again"
        clock.advance(by: 299)
        #expect(health.knownHealthy("nas", now: clock.now()))
        clock.advance(by: 2)
        #expect(!health.knownHealthy("nas", now: clock.now()))
        health.forget("nas")
        #expect(health.fresh("nas", now: clock.now()) == nil)
    }

    @Test("a lane found without work is not asked again for a second while transfers run, and always when none runs")
    func quietLanes() {
        let clock = ManualClock(now)
        var quiet = QuietLanes()
        let idle = QuietLanes.Lane(source: "ws-anna", target: "backup")
        #expect(!quiet.skip(idle, now: clock.now(), transfersRunning: true))     // never asked: ask
        quiet.noteQuiet(idle, now: clock.now())
        clock.advance(by: 0.9)
        #expect(quiet.skip(idle, now: clock.now(), transfersRunning: true))
        #expect(!quiet.skip(idle, now: clock.now(), transfersRunning: false))   // the last refill of `--once` asks
        #expect(!quiet.skip(QuietLanes.Lane(source: "studio", target: "backup"), now: clock.now(), transfersRunning: true))
        clock.advance(by: 0.2)
        #expect(!quiet.skip(idle, now: clock.now(), transfersRunning: true))    // a second later: ask again
        quiet.noteQuiet(idle, now: clock.now())
        quiet.noteBusy(idle)
        #expect(!quiet.skip(idle, now: clock.now(), transfersRunning: true))    // work found: ask every time
    }

    @Test("a transfer that moved a byte just after the watchdog read the time is idle for 0 s, not stalled")
    func idleNeverWrapsAround() {
        let board = ProgressBoard()
        let key = FileKey(fileID: "f1", site: "vendor")
        #expect(board.idleSeconds(key) == nil)   // not running
        let before = DispatchTime.now().uptimeNanoseconds
        board.set(key, 1)
        // The watchdog's moment, read before the transfer thread recorded its progress.
        #expect(board.idleSeconds(key, now: 0) == 0)
        let idle = board.idleSeconds(key, now: before + 3_000_000_000) ?? -1
        #expect(idle > 2.9 && idle <= 3)
    }
}
