import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

/// `show ID` for a person: the representation, then each file with its state per site. Linear in the rows, so a
/// 10,000-frame sequence prints at once.
public enum ShowText {
    public static func lines(_ detail: SiteSync.RepresentationDetail, now: Date = Date()) -> [String] {
        let r = detail.representation
        let c = r.context
        var out = [
            "representation \(r.id)",
            "  \(c.project)/\(c.folder)/\(c.product) v\(String(format: "%03d", c.version)) '\(c.name)'\(c.task.map { " task \($0)" } ?? "")\(c.host.map { " host \($0)" } ?? "")\(r.paused ? " [paused]" : "")",
            "  published \(APIJSON.iso(r.createdAt))\(r.inputs.isEmpty ? "" : ", inputs: \(r.inputs.joined(separator: ", "))")",
        ]
        let byFile = Dictionary(grouping: detail.states, by: \.fileID)
        for file in detail.files {
            out.append("\(file.path)  \(ByteCount.format(file.size))  sha256 \(file.sha256)")
            for state in byFile[file.id] ?? [] {
                var line = "    \(state.site.padding(toLength: max(12, state.site.count), withPad: " ", startingAt: 0))  \(state.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  tries \(state.tries)  priority \(state.priority)"
                if state.status == .inProgress { line += "  \(ByteCount.format(state.bytesDone))" }
                if let err = state.lastError, state.status != .synced, !state.status.isDamaged { line += "  error: \(err)" }
                if state.status.isDamaged, let problem = state.problem { line += "  \(problem)" }
                if state.status == .synced, let identical = state.madeFrom { line += "  made from identical \(identical) (not sent)" }
                if state.status == .queued, state.nextAttemptAt > now { line += "  next try \(APIJSON.iso(state.nextAttemptAt))" }
                out.append(line)
            }
        }
        return out
    }
}
