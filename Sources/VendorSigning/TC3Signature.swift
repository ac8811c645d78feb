import Crypto
import IngestCore

/// TC3-HMAC-SHA256, the signature of Tencent Cloud API 3.0 (protocol notes §2.3).
///
/// Pure functions: ``ProviderTencent`` signs with them, the emulator verifies with them, and both
/// are checked against the vectors the official SDK produced.
public enum TC3Signature {
    public static let algorithm = "TC3-HMAC-SHA256"

    /// One header as it enters the canonical request.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The UTC calendar date of a Unix timestamp, `YYYY-MM-DD` (not local time).
    public static func date(timestamp: Int64) -> String {
        String(ISO8601Timestamp.format(timestamp).prefix(10))
    }

    /// The canonical request: method, path, query, the signed headers (names and values lower-cased
    /// and trimmed, sorted by name, each line ending in `\n`), the signed-header list, the payload hash.
    public static func canonicalRequest(
        method: String, path: String = "/", query: String = "", headers: [Header], payloadHash: String
    ) -> (canonical: String, signedHeaders: String) {
        let sorted =
            headers
            .map { Header($0.name.lowercased(), trim($0.value).lowercased()) }
            .sorted { $0.name < $1.name }
        let canonicalHeaders = sorted.map { "\($0.name):\($0.value)\n" }.joined()
        let signedHeaders = sorted.map(\.name).joined(separator: ";")
        let canonical = [method.uppercased(), path, query, canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    public static func credentialScope(date: String, service: String) -> String { "\(date)/\(service)/tc3_request" }

    public static func stringToSign(timestamp: Int64, scope: String, canonicalRequest: String) -> String {
        "\(algorithm)\n\(timestamp)\n\(scope)\n\(Hex.sha256(Array(canonicalRequest.utf8)))"
    }

    /// Hex signature of `stringToSign` with keys derived from `secretKey`, `date` and `service`.
    public static func signature(secretKey: String, date: String, service: String, stringToSign: String) -> String {
        func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
        }
        let kDate = hmac(Array(("TC3" + secretKey).utf8), date)
        let kService = hmac(kDate, service)
        let kSigning = hmac(kService, "tc3_request")
        return Hex.encode(hmac(kSigning, stringToSign))
    }

    /// Signs a request.
    /// - Parameters:
    ///   - headers: the headers to sign (at least `content-type` and `host`).
    ///   - body: the exact bytes sent.
    /// - Returns: the `Authorization` header value.
    public static func authorization(
        secretID: String, secretKey: String, service: String, timestamp: Int64, method: String = "POST",
        headers: [Header], body: [UInt8]
    ) -> String {
        let (canonical, signed) = canonicalRequest(
            method: method, headers: headers, payloadHash: Hex.sha256(body))
        let date = date(timestamp: timestamp)
        let scope = credentialScope(date: date, service: service)
        let signature = signature(
            secretKey: secretKey, date: date, service: service,
            stringToSign: stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical))
        return "\(algorithm) Credential=\(secretID)/\(scope), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// The parts of an `Authorization` header.
    public struct Parsed: Sendable, Equatable {
        public var secretID: String
        public var date: String
        public var service: String
        public var signedHeaders: [String]
        public var signature: String
    }

    /// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex`;
    /// `nil` when malformed or another algorithm.
    public static func parse(authorization: String) -> Parsed? {
        guard authorization.hasPrefix(algorithm + " ") else { return nil }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst(algorithm.count + 1).split(separator: ",") {
            let kv = trim(String(part))
            guard let eq = kv.firstIndex(of: "=") else { return nil }
            fields[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"],
            let signature = fields["Signature"]
        else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 4, scope[3] == "tc3_request", !scope[0].isEmpty, !signed.isEmpty else { return nil }
        return Parsed(
            secretID: scope[0], date: scope[1], service: scope[2],
            signedHeaders: signed.split(separator: ";").map { $0.lowercased() }, signature: signature)
    }

    static func trim(_ s: String) -> String {
        var sub = Substring(s)
        while let f = sub.first, f == " " || f == "\t" { sub.removeFirst() }
        while let l = sub.last, l == " " || l == "\t" { sub.removeLast() }
        return String(sub)
    }
}
