import Crypto

/// The COS request signature ("q-sign", HMAC-SHA1), protocol notes §4.2.
public enum COSSignature {
    /// Headers the official SDK signs (besides every `x-cos-*` and `x-ci-*`).
    public static let signableHeaders: Set<String> = [
        "cache-control", "content-disposition", "content-encoding", "content-type", "content-md5",
        "content-length", "expect", "expires", "host", "if-match", "if-modified-since", "if-none-match",
        "if-unmodified-since", "origin", "range", "transfer-encoding", "pic-operations",
    ]

    public static func isSignable(_ lowerName: String) -> Bool {
        signableHeaders.contains(lowerName) || lowerName.hasPrefix("x-cos-") || lowerName.hasPrefix("x-ci-")
    }

    /// Percent-encodes UTF-8, leaving only `A-Z a-z 0-9 - _ . ~` (upper-case hex).
    public static func encode(_ s: String) -> String { RFC3986.encode(s) }

    /// Percent-encodes an object key for the URL path: like ``encode(_:)`` but `/` stays.
    public static func encodePath(_ key: String) -> String { RFC3986.encodePath(key) }

    static func canonicalPairs(_ pairs: [(String, String)]) -> (joined: String, names: String) {
        let encoded = pairs.map { (encode($0.0).lowercased(), encode($0.1)) }.sorted { $0.0 < $1.0 }
        return (encoded.map { "\($0.0)=\($0.1)" }.joined(separator: "&"), encoded.map(\.0).joined(separator: ";"))
    }

    /// The signed parts of a request, as the signer saw them.
    public struct Parts: Sendable {
        public var httpString: String
        public var stringToSign: String
        public var signKey: String
        public var headerList: String
        public var parameterList: String
        public var signature: String
    }

    /// Computes the signature.
    /// - Parameters:
    ///   - path: the decoded path (`/dir a/视频 1.mp4`), starting with `/`.
    ///   - query: decoded query parameters; all are signed.
    ///   - headers: the headers to sign (decide with ``isSignable(_:)``).
    ///   - keyTime: `"start;end"` in Unix seconds.
    public static func sign(
        secretKey: String, method: String, path: String, query: [(String, String)], headers: [(String, String)],
        keyTime: String
    ) -> Parts {
        let params = canonicalPairs(query)
        let heads = canonicalPairs(headers)
        let httpString = "\(method.lowercased())\n\(path)\n\(params.joined)\n\(heads.joined)\n"
        let sha1 = Hex.encode(Insecure.SHA1.hash(data: Array(httpString.utf8)))
        let stringToSign = "sha1\n\(keyTime)\n\(sha1)\n"
        let signKey = Hex.encode(
            HMAC<Insecure.SHA1>.authenticationCode(for: Array(keyTime.utf8), using: SymmetricKey(data: Array(secretKey.utf8))))
        let signature = Hex.encode(
            HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(signKey.utf8))))
        return Parts(
            httpString: httpString, stringToSign: stringToSign, signKey: signKey, headerList: heads.names,
            parameterList: params.names, signature: signature)
    }

    /// The `Authorization` header value.
    public static func authorization(
        secretID: String, secretKey: String, method: String, path: String, query: [(String, String)],
        headers: [(String, String)], keyTime: String
    ) -> String {
        let parts = sign(secretKey: secretKey, method: method, path: path, query: query, headers: headers, keyTime: keyTime)
        return "q-sign-algorithm=sha1&q-ak=\(secretID)&q-sign-time=\(keyTime)&q-key-time=\(keyTime)"
            + "&q-header-list=\(parts.headerList)&q-url-param-list=\(parts.parameterList)&q-signature=\(parts.signature)"
    }

    /// The fields of an `Authorization` header.
    public struct Parsed: Sendable, Equatable {
        public var secretID: String
        public var signTime: String
        public var keyTime: String
        public var headerList: [String]
        public var parameterList: [String]
        public var signature: String

        /// The validity window of `q-sign-time`.
        public var window: (start: Int64, end: Int64)? {
            let parts = signTime.split(separator: ";")
            guard parts.count == 2, let s = Int64(parts[0]), let e = Int64(parts[1]) else { return nil }
            return (s, e)
        }
    }

    public static func parse(authorization: String) -> Parsed? {
        var fields: [String: String] = [:]
        for pair in authorization.split(separator: "&", omittingEmptySubsequences: false) {
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            fields[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        guard fields["q-sign-algorithm"] == "sha1", let ak = fields["q-ak"], !ak.isEmpty,
            let signTime = fields["q-sign-time"], let keyTime = fields["q-key-time"],
            let headers = fields["q-header-list"], let params = fields["q-url-param-list"],
            let signature = fields["q-signature"]
        else { return nil }
        func list(_ s: String) -> [String] { s.split(separator: ";").map { String($0).lowercased() } }
        return Parsed(
            secretID: ak, signTime: signTime, keyTime: keyTime, headerList: list(headers), parameterList: list(params),
            signature: signature)
    }
}
