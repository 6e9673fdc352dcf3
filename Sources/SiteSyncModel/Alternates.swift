/// The "alternative sites" relation: sites that reach the same physical files.
///
/// Symmetric and transitive: `vendor → [studio]` and `studio2 → [studio]` make all three one group, so a file
/// synced on any of them is synced on all (the reference followed only one level after a transfer).
public struct AlternateSites: Sendable, Equatable {
    private var groups: [String: Set<String>] = [:]

    public init(declared: [String: [String]]) {
        var adjacency: [String: Set<String>] = [:]
        for (site, alts) in declared {
            for alt in alts where alt != site {
                adjacency[site, default: []].insert(alt)
                adjacency[alt, default: []].insert(site)
            }
        }
        for start in adjacency.keys where groups[start] == nil {
            var seen: Set<String> = [start]
            var queue = [start]
            while let next = queue.popLast() {
                for n in adjacency[next] ?? [] where !seen.contains(n) {
                    seen.insert(n)
                    queue.append(n)
                }
            }
            for member in seen { groups[member] = seen }
        }
    }

    /// Every other site holding the same files as `site`.
    public func alternates(of site: String) -> Set<String> {
        (groups[site] ?? []).subtracting([site])
    }

    /// `site` and its alternates.
    public func group(of site: String) -> Set<String> {
        groups[site] ?? [site]
    }
}
