import Crypto
import Foundation
import VendorSigning

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// Digests of a byte range of a file, streamed in 1 MiB reads, for the paths that must read a range
/// apart from sending it: the parts a resumed upload keeps (checked against what the store lists),
/// and the first answer of a store that sends no CRC-64 (see ``ObjectUploader``).
public enum FileRange {
    /// MD5 of `length` bytes at `offset`.
    /// - Throws: ``TransportError`` (`fileUnreadable`) when the file cannot be read or is shorter.
    public static func md5(path: String, offset: Int64, length: Int64) throws -> [UInt8] {
        try digest(path: path, offset: offset, length: length, crc: false).md5
    }

    /// MD5 of `length` bytes at `offset`, and their CRC-64/ECMA when `crc` is set, in one read.
    /// - Throws: ``TransportError`` (`fileUnreadable`) when the file cannot be read or is shorter.
    public static func digest(path: String, offset: Int64, length: Int64, crc: Bool) throws -> (md5: [UInt8], crc64: UInt64?) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TransportError(.fileUnreadable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = Insecure.MD5()
        var checksum = CRC64()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset
        let end = offset + length
        while position < end {
            try Task.checkCancellation()
            let want = Int(Swift.min(Int64(chunk), end - position))
            let n = pread(fd, buffer.baseAddress, want, off_t(position))
            if n < 0 {
                throw TransportError(.fileUnreadable, "reading \(path) at byte \(position) failed: \(String(cString: strerror(errno)))")
            }
            guard n > 0 else {
                throw TransportError(.fileUnreadable, "\(path) ended at byte \(position), expected \(end): was it changed?")
            }
            let read = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: read)
            if crc { checksum.update(read) }
            position += Int64(n)
        }
        return (Array(hasher.finalize()), crc ? checksum.value : nil)
    }
}
