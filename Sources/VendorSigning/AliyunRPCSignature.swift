import CCRC64
import Crypto
import Foundation
import IngestCore

/// Alibaba Cloud RPC signature V1 (HMAC-SHA1), as aliyunsdkcore signs VOD requests (protocol notes
/// §3.2): every parameter but `Signature`, RFC 3986-encoded, sorted by name, then
/// `METHOD&%2F&encode(query)` signed with `secret&`.
public enum AliyunRPCSignature {
    /// RFC 3986 percent-encoding (``RFC3986/encode(_:)``): a space is `%20`, `*` is `%2A`, `/` is `%2F`.
    public static func encode(_ s: String) -> String { RFC3986.encode(s) }

    /// The sorted, encoded `name=value&...` of every parameter but `Signature` (empty values included).
    public static func canonicalQuery(_ parameters: [(String, String)]) -> String {
        parameters.filter { $0.0 != "Signature" }
            .sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { encode($0.0) + "=" + encode($0.1) }
            .joined(separator: "&")
    }

    public static func stringToSign(method: String, parameters: [(String, String)]) -> String {
        method.uppercased() + "&" + encode("/") + "&" + encode(canonicalQuery(parameters))
    }

    /// Base64 HMAC-SHA1 of `stringToSign` keyed with `secret + "&"`.
    public static func signature(secret: String, stringToSign: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(stringToSign.utf8), using: SymmetricKey(data: Array((secret + "&").utf8)))
        return Data(mac).base64EncodedString()
    }

    /// The query string a client sends: the parameters, then `Signature`, each RFC 3986-encoded.
    /// - Returns: the query, and the string that was signed (to compare with the one a
    ///   `SignatureDoesNotMatch` answer shows).
    public static func signedQuery(method: String, parameters: [(String, String)], secret: String) -> (query: String, stringToSign: String)
    {
        let toSign = stringToSign(method: method, parameters: parameters)
        let signature = signature(secret: secret, stringToSign: toSign)
        return ((parameters + [("Signature", signature)]).map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&"), toSign)
    }
}

/// Alibaba Cloud signature V3 (`ACS3-HMAC-SHA256`), what alibabacloud_vod20170321 sends by default
/// (protocol notes §3.3). The emulator verifies it; the provider signs with V1.
public enum ACS3Signature {
    public static let algorithm = "ACS3-HMAC-SHA256"

    /// Query pairs sorted by name, values RFC 3986-encoded.
    public static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        pairs.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { AliyunRPCSignature.encode($0.0) + "=" + AliyunRPCSignature.encode($0.1) }
            .joined(separator: "&")
    }

    /// - Parameter headers: the signed headers (lower-case names), in any order.
    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> String {
        let sorted = headers.map { ($0.0.lowercased(), $0.1.trimmingCharacters(in: .whitespaces)) }.sorted { $0.0 < $1.0 }
        let canonicalHeaders = sorted.map { "\($0.0):\($0.1)\n" }.joined()
        let signedHeaders = sorted.map(\.0).joined(separator: ";")
        return [method.uppercased(), path, canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
    }

    public static func stringToSign(canonicalRequest: String) -> String {
        algorithm + "\n" + Hex.sha256(Array(canonicalRequest.utf8))
    }

    /// Hex HMAC-SHA256 keyed with the secret itself (no `&`).
    public static func signature(secret: String, stringToSign: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secret.utf8))))
    }

    /// `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`.
    public struct Parsed: Sendable, Equatable {
        public var accessKeyID: String
        public var signedHeaders: [String]
        public var signature: String
    }

    public static func parse(authorization: String) -> Parsed? {
        guard let fields = RFC3986.authorizationFields(authorization, algorithm: algorithm) else { return nil }
        guard let ak = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
        return Parsed(accessKeyID: ak, signedHeaders: signed.split(separator: ";").map { String($0).lowercased() }, signature: signature)
    }
}

/// OSS request signature V1 (`Authorization: OSS AK:base64(HMAC-SHA1)`), protocol notes §5.2.
public enum OSSSignature {
    /// Query parameters that are part of the signed resource (the rest, such as `max-parts`, are not).
    public static let subresources: Set<String> = [
        "acl", "uploads", "location", "cors", "logging", "website", "referer", "lifecycle", "delete", "append", "tagging",
        "objectMeta", "uploadId", "partNumber", "security-token", "position", "img", "style", "styleName", "replication",
        "replicationProgress", "replicationLocation", "cname", "bucketInfo", "comp", "qos", "live", "status", "vod",
        "startTime", "endTime", "symlink", "x-oss-process", "response-content-type", "response-content-language",
        "response-expires", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "udf", "udfName", "udfImage", "udfId", "udfImageDesc", "udfApplication", "udfApplicationLog", "restore",
        "callback", "callback-var", "policy", "stat", "encryption", "versions", "versioning", "versionId", "sequential",
        "continuation-token", "worm", "wormId", "wormExtend", "resourceGroup", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask",
        "x-oss-ac-vpc-id", "x-oss-ac-forward-allow", "metaQuery", "regionList", "cloudboxes", "x-oss-async-process",
        "x-oss-traffic-limit", "inventory", "inventoryId", "continuation-token",
    ]

    /// - Parameters:
    ///   - headers: every header sent (any case); `Content-MD5`, `Content-Type`, `Date`/`x-oss-date`
    ///     and `x-oss-*` are picked from them.
    ///   - key: the raw object key (empty for bucket-level requests).
    public static func stringToSign(
        method: String, headers: [(String, String)], bucket: String, key: String, query: [(String, String)]
    ) -> String {
        func header(_ name: String) -> String { headers.first { $0.0.lowercased() == name }?.1 ?? "" }
        let date = headers.contains { $0.0.lowercased() == "x-oss-date" } ? header("x-oss-date") : header("date")
        let oss = headers.filter { $0.0.lowercased().hasPrefix("x-oss-") }.map { ($0.0.lowercased(), $0.1) }.sorted { $0.0 < $1.0 }
        var resource = bucket.isEmpty ? "/" : "/\(bucket)/\(key)"
        let signedQuery = query.filter { subresources.contains($0.0) }.sorted { $0.0 < $1.0 }
        if !signedQuery.isEmpty {
            resource += "?" + signedQuery.map { $0.1.isEmpty ? $0.0 : "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        return [method.uppercased(), header("content-md5"), header("content-type"), date].joined(separator: "\n") + "\n"
            + oss.map { "\($0.0):\($0.1)\n" }.joined() + resource
    }

    public static func signature(secret: String, stringToSign: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Data(mac).base64EncodedString()
    }

    public static func authorization(accessKeyID: String, secret: String, stringToSign: String) -> String {
        "OSS \(accessKeyID):\(signature(secret: secret, stringToSign: stringToSign))"
    }

    /// `(AccessKeyId, Signature)` of an `OSS AK:SIG` header.
    public static func parse(authorization: String) -> (accessKeyID: String, signature: String)? {
        guard authorization.hasPrefix("OSS "), let colon = authorization.lastIndex(of: ":") else { return nil }
        let ak = authorization[authorization.index(authorization.startIndex, offsetBy: 4)..<colon]
        return (String(ak), String(authorization[authorization.index(after: colon)...]))
    }

    /// A key as oss2 puts it in the URL: every byte but the unreserved ones percent-encoded, `/` included.
    public static func encodeKey(_ key: String) -> String { AliyunRPCSignature.encode(key) }

    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 1123 date (`Wed, 01 May 2024 08:30:00 GMT`), the `Date` OSS V1 signs. Built from the
    /// ISO 8601 form, not a DateFormatter (one is costly to make, and not shareable across threads).
    public static func httpDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let iso = Array(ISO8601Timestamp.format(seconds))  // 2024-05-01T08:30:00Z
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        let month = months[(Int(String(iso[5...6])) ?? 1) - 1]
        return "\(weekday), \(String(iso[8...9])) \(month) \(String(iso[0...3])) \(String(iso[11...18])) GMT"
    }

    public static func parseHTTPDate(_ text: String) -> Date? {
        // "Wed, 01 May 2024 08:30:00 GMT"
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let month = months.firstIndex(of: String(parts[2])), parts[1].count == 2,
            parts[3].count == 4, parts[4].count == 8
        else { return nil }
        let monthText = month + 1 < 10 ? "0\(month + 1)" : "\(month + 1)"
        return ISO8601Timestamp.parse("\(parts[3])-\(monthText)-\(parts[1])T\(parts[4])Z")
    }

    /// `20240501T083000Z`, OSS V4's `x-oss-date`.
    public static func parseCompactDate(_ text: String) -> Date? {
        let c = Array(text)
        guard c.count == 16, c[8] == "T", c[15] == "Z" else { return nil }
        return ISO8601Timestamp.parse(
            "\(String(c[0...3]))-\(String(c[4...5]))-\(String(c[6...7]))T\(String(c[9...10])):\(String(c[11...12])):\(String(c[13...14]))Z")
    }
}

/// CRC-64/XZ (ECMA-182, reflected, init and xorout all ones): OSS's `x-oss-hash-crc64ecma` and COS's
/// `x-cos-hash-crc64ecma`. The bytes are folded with carry-less multiplication where the CPU has it
/// (the `CCRC64` C target, about 5 × a slicing-by-8 table), since client and emulator both run it over every byte.
public struct CRC64: Sendable {
    private var state: UInt64 = ~0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        state = ccrc64_update(state, base, bytes.count)
    }

    /// Whether this CPU folds with PCLMULQDQ (else the table is used).
    public static var isAccelerated: Bool { ccrc64_accelerated() != 0 }

    /// The CRC of `bytes` by the byte table alone: the reference the folded path is checked against.
    public static func tableValue(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        return ~ccrc64_update_table(~0, base, bytes.count)
    }

    public mutating func update<D: Sequence>(_ bytes: D) where D.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    public var value: UInt64 { ~state }

    /// The CRC of `a ‖ b` from the CRCs of `a` and `b` and the length of `b` (zlib's GF(2) matrix
    /// method), so a multipart object's CRC comes from its parts' without reading it again.
    public static func combine(_ crcA: UInt64, _ crcB: UInt64, lengthOfB: Int64) -> UInt64 {
        guard lengthOfB > 0 else { return crcA }
        func times(_ matrix: [UInt64], _ vector: UInt64) -> UInt64 {
            var sum: UInt64 = 0
            var v = vector
            var i = 0
            while v != 0 {
                if v & 1 == 1 { sum ^= matrix[i] }
                v >>= 1
                i += 1
            }
            return sum
        }
        func square(_ matrix: [UInt64]) -> [UInt64] { (0..<64).map { times(matrix, matrix[$0]) } }
        var odd = [UInt64](repeating: 0, count: 64)
        odd[0] = 0xC96C_5795_D787_0F42
        var row: UInt64 = 1
        for n in 1..<64 {
            odd[n] = row
            row <<= 1
        }
        var even = square(odd)  // two zero bits
        odd = square(even)  // four zero bits
        var crc = crcA
        var length = lengthOfB
        repeat {
            even = square(odd)
            if length & 1 == 1 { crc = times(even, crc) }
            length >>= 1
            if length == 0 { break }
            odd = square(even)
            if length & 1 == 1 { crc = times(odd, crc) }
            length >>= 1
        } while length != 0
        return crc ^ crcB
    }
}

/// OSS request signature V4 (`OSS4-HMAC-SHA256`, oss2's `auth_version='v4'`), protocol notes §5.3.
public enum OSSV4Signature {
    public static let algorithm = "OSS4-HMAC-SHA256"

    /// `/<bucket>/<key>`, RFC 3986-encoded with `/` kept.
    public static func canonicalURI(bucket: String, key: String) -> String { "/" + bucket + "/" + RFC3986.encodePath(key) }

    public static func canonicalRequest(
        method: String, bucket: String, key: String, query: [(String, String)], headers: [(String, String)],
        additionalHeaders: [String] = []
    ) -> String {
        let encodedQuery = query.map { (AliyunRPCSignature.encode($0.0), AliyunRPCSignature.encode($0.1)) }
            .sorted { $0.0 < $1.0 }
            .map { $0.1.isEmpty ? $0.0 : "\($0.0)=\($0.1)" }
            .joined(separator: "&")
        let additional = Set(additionalHeaders.map { $0.lowercased() })
        let signed = headers.map { ($0.0.lowercased(), $0.1.trimmingCharacters(in: .whitespaces)) }
            .filter { $0.0.hasPrefix("x-oss-") || $0.0 == "content-type" || $0.0 == "content-md5" || additional.contains($0.0) }
            .sorted { $0.0 < $1.0 }
        let payload = headers.first { $0.0.lowercased() == "x-oss-content-sha256" }?.1 ?? "UNSIGNED-PAYLOAD"
        return [
            method.uppercased(), canonicalURI(bucket: bucket, key: key), encodedQuery, signed.map { "\($0.0):\($0.1)\n" }.joined(),
            additionalHeaders.map { $0.lowercased() }.sorted().joined(separator: ";"), payload,
        ].joined(separator: "\n")
    }

    /// `<yyyymmdd>/<region>/oss/aliyun_v4_request`.
    public static func scope(date: String, region: String) -> String { "\(date.prefix(8))/\(region)/oss/aliyun_v4_request" }

    public static func stringToSign(dateTime: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, dateTime, scope, Hex.sha256(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// Hex HMAC-SHA256 with the key derived from `aliyun_v4` + secret, the day, the region, `oss`.
    public static func signature(secret: String, day: String, region: String, stringToSign: String) -> String {
        func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
        }
        let k4 = hmac(hmac(hmac(hmac(Array(("aliyun_v4" + secret).utf8), String(day.prefix(8))), region), "oss"), "aliyun_v4_request")
        return Hex.encode(hmac(k4, stringToSign))
    }

    /// The fields of an `OSS4-HMAC-SHA256 Credential=AK/day/region/oss/aliyun_v4_request, Signature=hex` header.
    public struct Parsed: Sendable, Equatable {
        public var accessKeyID: String
        public var day: String
        public var region: String
        public var signature: String
        public var additionalHeaders: [String]
    }

    public static func parse(authorization: String) -> Parsed? {
        guard let fields = RFC3986.authorizationFields(authorization, algorithm: algorithm) else { return nil }
        guard let credential = fields["Credential"], let signature = fields["Signature"] else { return nil }
        let parts = credential.split(separator: "/").map(String.init)
        guard parts.count == 5, parts[3] == "oss", parts[4] == "aliyun_v4_request" else { return nil }
        return Parsed(
            accessKeyID: parts[0], day: parts[1], region: parts[2], signature: signature,
            additionalHeaders: (fields["AdditionalHeaders"] ?? "").split(separator: ";").map(String.init))
    }
}
