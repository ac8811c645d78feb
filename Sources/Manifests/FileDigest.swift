import Crypto
import IngestCore
import VendorSigning

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Streams a file through MD5, SHA-256 and/or CRC-64 in 1 MiB reads (never the whole file in memory).
public enum FileDigest {
    public struct Digests: Sendable, Equatable {
        public var md5: String?
        public var sha256: String?
        /// CRC-64/ECMA, as COS and OSS report it.
        public var crc64: UInt64?
    }

    /// - Returns: lower-case hex digests of the requested kinds.
    public static func compute(path: String, md5: Bool, sha256: Bool, crc64: Bool = false) -> Result<Digests, Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        defer { close(fd) }
        var md5Hasher = md5 ? Insecure.MD5() : nil
        var shaHasher = sha256 ? SHA256() : nil
        var crc = crc64 ? CRC64() : nil
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress!, size)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            md5Hasher?.update(bufferPointer: chunk)
            shaHasher?.update(bufferPointer: chunk)
            crc?.update(chunk)
        }
        return .success(
            Digests(
                md5: md5Hasher.map { hex($0.finalize()) }, sha256: shaHasher.map { hex($0.finalize()) }, crc64: crc?.value))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
