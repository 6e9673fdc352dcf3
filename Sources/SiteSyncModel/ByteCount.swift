import Foundation

/// Sizes as people read them: `1.5 MiB`.
public enum ByteCount {
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(decimal(value, places: 1)) \(units[unit])"
    }

    /// `value` with `places` decimals (rounded half away from zero), as `String(format: "%.Nf")` writes it but
    /// without Foundation's formatter: the server logs a line per file, and that formatter was a tenth of the
    /// server's own CPU time on thousands of small files.
    public static func decimal(_ value: Double, places: Int) -> String {
        let places = min(max(0, places), 9)
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        guard value.isFinite, abs(value) * Double(scale) < 9e18 else { return "\(value)" }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard places > 0 else { return "\(sign)\(scaled)" }
        let fraction = String(scaled % scale)
        return "\(sign)\(scaled / scale).\(String(repeating: "0", count: places - fraction.count))\(fraction)"
    }
}
