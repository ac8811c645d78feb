import Crypto
import Foundation

/// Lower-case hexadecimal, as both Tencent signature schemes print digests.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// SHA-256 of `bytes`, hex.
    public static func sha256<D: DataProtocol>(_ bytes: D) -> String { encode(SHA256.hash(data: bytes)) }
}

/// Constant-time comparison of two signatures (so a verifier leaks nothing through timing).
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in x.indices { diff |= x[i] ^ y[i] }
    return diff == 0
}
