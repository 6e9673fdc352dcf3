import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncStandard

/// `SiteSyncCatalogBench --catalog LOCATION --project P --source S --target T`: times, on a catalog the bench
/// script filled, what a sync server and the CLI do most — claiming the next batch, asking when the next transfer
/// is due, and one page of `status` —
/// through the same catalog protocol the engine uses. Prints one line of figures. Benchmark support, not shipped.
@main
struct CatalogBench {
    static func main() async {
        let args = CommandLine.arguments
        func value(_ name: String, _ fallback: String) -> String {
            args.firstIndex(of: name).flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil } ?? fallback
        }
        let location = value("--catalog", "")
        let project = value("--project", "big")
        let source = value("--source", "studio"), target = value("--target", "backup")
        let claims = Int(value("--claims", "200")) ?? 200
        let pages = Int(value("--pages", "100")) ?? 100
        let batch = Int(value("--batch", "8")) ?? 8
        do {
            let catalog = try StandardCatalogs.open(location, create: false)
            // Warm up: connections, statement caches, the first pages of the indexes.
            _ = try await catalog.summaries(project: project, site: nil, after: nil, limit: 50)

            // Claim the next batch, then give it back (the pending count stays the same run after run).
            var claimTimes: [Double] = []
            for i in 0..<(claims + 10) {
                let now = Date()
                let started = DispatchTime.now()
                let items = try await catalog.claim(ClaimRequest(source: source, target: target, projects: [project],
                                                                 owner: "bench-\(i)", now: now,
                                                                 leaseUntil: now.addingTimeInterval(60), limit: batch))
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
                guard items.count == batch else {
                    throw SiteSyncError(.internal, "claim returned \(items.count) of \(batch): is the catalog filled (pending work on \(target))?")
                }
                if i >= 10 { claimTimes.append(ms) }
                try await catalog.releaseLeases(owner: "bench-\(i)", keys: items.map(\.key))
            }

            // Between refills a server asks when the next queued or leased transfer of a pair is due.
            var nextTimes: [Double] = []
            for i in 0..<(claims + 10) {
                let started = DispatchTime.now()
                _ = try await catalog.nextAttempt(source: source, target: target, projects: [project], preferred: [],
                                                  representations: nil, after: Date())
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
                if i >= 10 { nextTimes.append(ms) }
            }

            // One page of 50 representations with per-site counts, at spread-out places in the project.
            var starts: [RepresentationContext?] = [nil]
            var after: RepresentationContext?
            // Page starts sampled along the project (reading ahead by pages of 2,000 keeps this setup short).
            while starts.count < pages {
                let page = try await catalog.summaries(project: project, site: nil, after: after, limit: 2_000)
                guard let last = page.last else { break }
                starts.append(last.representation.context)
                after = last.representation.context
            }
            var pageTimes: [Double] = []
            for start in starts {
                let started = DispatchTime.now()
                let page = try await catalog.summaries(project: project, site: nil, after: start, limit: 50)
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
                if !page.isEmpty { pageTimes.append(ms) }
            }
            func percentile(_ values: [Double], _ p: Double) -> Double {
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return .nan }
                return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
            }
            print(String(format: "claim_median_ms=%.2f claim_p99_ms=%.2f next_median_ms=%.2f next_p99_ms=%.2f page_median_ms=%.2f page_p99_ms=%.2f claims=%d pages=%d",
                         percentile(claimTimes, 0.5), percentile(claimTimes, 0.99), percentile(nextTimes, 0.5), percentile(nextTimes, 0.99),
                         percentile(pageTimes, 0.5), percentile(pageTimes, 0.99), claimTimes.count, pageTimes.count))
        } catch {
            FileHandle.standardError.write(Data("SiteSyncCatalogBench: \(error)\n".utf8))
            exit(1)
        }
    }
}
