import Foundation
import SiteSyncModel
import Testing

@Suite("Sizes and durations as people read them")
struct ByteCountTests {
    // printf rounds the exact binary value, halves to even; `decimal` rounds the scaled value, halves away from zero.
    // They differ only on (near-)halves such as 0.25 or 2.675, which a log line does not care about.
    @Test("decimals are written as printf writes them, away from halfway cases", arguments: [0.0, 0.004, 0.0149, 0.3, 1.0, 9.999, 123.456, 4096.0 / 1024, 0.017, -1.26])
    func decimals(_ value: Double) {
        for places in 0...3 {
            #expect(ByteCount.decimal(value, places: places) == String(format: "%.\(places)f", value), "\(value) with \(places) places")
        }
    }

    @Test("sizes pick the largest unit below 1,024 of it")
    func sizes() {
        #expect(ByteCount.format(0) == "0 B")
        #expect(ByteCount.format(1023) == "1023 B")
        #expect(ByteCount.format(4096) == "4.0 KiB")
        #expect(ByteCount.format(1536 << 10) == "1.5 MiB")
        #expect(ByteCount.format(5 << 30) == "5.0 GiB")
        #expect(ByteCount.decimal(0.25, places: 1) == "0.3")
    }
}
