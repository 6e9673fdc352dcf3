import Crypto
import Foundation
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("Large files written past the page cache")
struct SequentialWriterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var size: Int
        /// Bytes already in the file (an earlier attempt's), opened for appending as a continued download is.
        var kept: Int
        /// Bytes per `append`; 0: the whole rest at once.
        var slice: Int
        /// Whether the slices start at an aligned address (the pipelined copy's buffers) or anywhere (a download's).
        var aligned: Bool
        var direct: Bool
        var testDescription: String {
            "\(size) bytes after \(kept) kept, slices of \(slice == 0 ? "everything" : String(slice)), \(aligned ? "aligned" : "unaligned"), \(direct ? "direct" : "page cache only")"
        }
    }

    static let mib = 1 << 20
    static let cases: [Case] = [
        Case(size: 0, kept: 0, slice: 0, aligned: false, direct: true),
        Case(size: 4095, kept: 0, slice: 1000, aligned: false, direct: true),
        Case(size: 4 * mib, kept: 0, slice: 0, aligned: true, direct: true),
        Case(size: 4 * mib + 1, kept: 0, slice: 65_536, aligned: false, direct: true),
        Case(size: 13 * mib + 4097, kept: 0, slice: 4 * mib, aligned: true, direct: true),
        Case(size: 13 * mib + 4097, kept: 0, slice: 777_777, aligned: false, direct: true),
        Case(size: 11 * mib + 3, kept: 5 * mib + 123, slice: 1 * mib, aligned: false, direct: true),
        Case(size: 11 * mib + 3, kept: 5 * mib + 123, slice: 4 * mib, aligned: true, direct: true),
        Case(size: 9 * mib + 17, kept: 100, slice: 0, aligned: false, direct: false),
    ]

    /// Bytes in which every 4 KiB block differs (it starts with its number), so a block out of place shows; made
    /// from one 64 KiB pattern, since a byte-by-byte loop over 13 MiB is slow in a debug build.
    static let pattern: [UInt8] = (0..<65_536).map { i in UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13) }
    static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count { out.append(contentsOf: pattern.prefix(count - out.count)) }
        out.withUnsafeMutableBytes { raw in
            for block in stride(from: 0, to: count, by: 4096) {
                withUnsafeBytes(of: UInt64(block / 4096)) { n in
                    UnsafeMutableRawBufferPointer(rebasing: raw[block..<min(block + 8, count)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: n[0..<min(8, count - block)]))
                }
            }
        }
        return out
    }

    @Test("every byte reaches the file in order, whatever the slices, the bytes kept before and the way they are written",
          arguments: cases)
    func order(_ c: Case) throws {
        let dir = try TemporaryDirectory("seqwrite")
        let path = "\(dir.path)/file.tmp"
        let expected = Self.bytes(c.size)
        try Data(expected[0..<c.kept]).write(to: URL(fileURLWithPath: path))
        let fd = try LocalFiles.openForWriting(path, append: c.kept > 0)
        defer { close(fd) }
        let writer = SequentialWriter(fd: fd, path: path, offset: Int64(c.kept), direct: c.direct)
        // The bytes to append sit in a buffer aligned to 4096 (plus one where they must not be aligned).
        let shift = c.aligned ? 0 : 1
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(c.size - c.kept, 1) + shift, alignment: 4096)
        defer { buffer.deallocate() }
        expected[c.kept...].withUnsafeBytes { buffer.baseAddress!.advanced(by: shift).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var at = 0
        let total = c.size - c.kept
        while at < total {
            let n = c.slice == 0 ? total - at : min(c.slice, total - at)
            try writer.append(UnsafeRawBufferPointer(rebasing: buffer[(shift + at)..<(shift + at + n)]))
            at += n
        }
        try writer.finish()
        #expect(writer.offset == Int64(c.size))
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(written.count == c.size)
        #expect(written == Data(expected), "the file's bytes differ from those appended")
        if !c.direct { #expect(writer.directBytes == 0) }
    }

    @Test("a large file goes to the disk directly past its first block, a small one stays in the page cache")
    func directOnlyForLargeFiles() throws {
        let dir = try TemporaryDirectory("seqwrite")
        let probe = "\(dir.path)/probe"
        let fd = open(probe, O_WRONLY | O_CREAT, 0o644)
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL)
        try #require(fcntl(fd, F_SETFL, flags | SequentialWriterTests.oDirect) == 0,
                     "the test directory's file system (\(dir.path)) should take direct I/O (ext4, XFS, btrfs)")
        for (size, direct) in [(3 * Self.mib, false), (10 * Self.mib + 5, true)] {
            let path = "\(dir.path)/f\(size)"
            let out = try LocalFiles.openForWriting(path)
            defer { close(out) }
            let writer = SequentialWriter(fd: out, path: path)
            try Self.bytes(size).withUnsafeBytes { try writer.append($0) }
            try writer.finish()
            if direct {
                // The first 4 MiB and the last partial block through the page cache, the rest directly.
                #expect(writer.directBytes == Int64(4 * Self.mib))
            } else {
                #expect(writer.directBytes == 0)
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(Self.bytes(size)))
        }
    }

    @Test("a large copy has the same bytes and hash whether its source is in the page cache or read from the disk directly",
          arguments: [true, false])
    func largeCopy(cached: Bool) throws {
        let dir = try TemporaryDirectory("seqwrite")
        let source = "\(dir.path)/source.bin"
        let bytes = Data(Self.bytes(21 * Self.mib + 4099))
        try bytes.write(to: URL(fileURLWithPath: source))
        let fd = open(source, O_RDONLY)
        defer { close(fd) }
        // Written pages are dirty: flushed first, or the kernel keeps them.
        fsync(fd)
        if cached {
            _ = try Data(contentsOf: URL(fileURLWithPath: source))
        } else {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        }
        #expect(LocalFiles.DirectReads.cached(fd, from: 0) == cached, "the page cache holds the source: \(!cached)")
        let copied = try LocalFiles.copy(from: source, to: "\(dir.path)/copy.bin", bytesPerSecond: nil, flag: CancellationFlag(),
                                         progress: { _ in })
        #expect(copied == ContentDigest.of(bytes))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/copy.bin")) == bytes)
    }

    #if arch(x86_64)
    static let oDirect: Int32 = 0o40000
    #else
    static let oDirect: Int32 = 0o200000
    #endif
}
