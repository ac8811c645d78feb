import Foundation
import IngestCore
import VODHTTP
import VendorSigning

/// Alibaba OSS as an ``ObjectStoreDialect`` (protocol notes §5): the UploadAddress endpoint (or
/// `--oss-endpoint`), virtual-host addressing for a domain and path style for an IP or `localhost`
/// (as oss2 decides), signature V1 with `x-oss-security-token`, CRC-64 checked, OSS XML errors.
struct OSSDialect: ObjectStoreDialect {
    let configuration: AliyunConfiguration
    let now: @Sendable () -> Date

    var storeName: String { "OSS" }
    var partRules: PartRules { AliyunConfiguration.partRules }
    var requestIDHeader: String { "x-oss-request-id" }
    var crc64Header: String? { "x-oss-hash-crc64ecma" }

    /// Whether oss2 would use path style for this host: an IP literal or `localhost`.
    static func isPathStyle(_ host: String) -> Bool {
        host == "localhost" || host.contains(":") || host.split(separator: ".").allSatisfy { Int($0) != nil }
    }

    func signedRequest(
        method: String, location: ObjectLocation, query: [(String, String)], headers extra: [(String, String)], body: HTTPBody,
        credentials: TemporaryCredentials, timeout: Duration
    ) -> HTTPRequestSpec {
        let endpoint =
            configuration.ossEndpoint ?? location.endpoint.flatMap(URL.init(string:))
            ?? URL(string: "https://oss-\(location.region).aliyuncs.com")!
        let host = endpoint.host ?? ""
        let scheme = endpoint.scheme ?? "https"
        let port = endpoint.port.map { ":\($0)" } ?? ""
        var headers: [(String, String)] = extra
        headers.append(("Date", OSSSignature.httpDate(now())))
        headers.append(("x-oss-security-token", credentials.token))
        let stringToSign = OSSSignature.stringToSign(
            method: method, headers: headers, bucket: location.bucket, key: location.key, query: query)
        headers.append(
            (
                "Authorization",
                OSSSignature.authorization(accessKeyID: credentials.secretID, secret: credentials.secretKey, stringToSign: stringToSign)
            ))
        let url: String
        if Self.isPathStyle(host) {
            url = "\(scheme)://\(host)\(port)/\(location.bucket)/" + OSSSignature.encodeKey(location.key)
        } else if configuration.ossEndpoint != nil, let original = location.endpoint.flatMap(URL.init(string:))?.host {
            // An override keeps the virtual host the platform named, as --cos-endpoint does for COS.
            headers.append(("Host", "\(location.bucket).\(original)"))
            url = "\(scheme)://\(host)\(port)/" + OSSSignature.encodeKey(location.key)
        } else {
            url = "\(scheme)://\(location.bucket).\(host)\(port)/" + OSSSignature.encodeKey(location.key)
        }
        let queryText = query.map {
            $0.1.isEmpty ? AliyunRPCSignature.encode($0.0) : "\(AliyunRPCSignature.encode($0.0))=\(AliyunRPCSignature.encode($0.1))"
        }
        .joined(separator: "&")
        return HTTPRequestSpec(
            method: method, url: query.isEmpty ? url : url + "?" + queryText, headers: headers, body: body, timeout: timeout,
            responseLimit: 4 << 20)
    }

    func error(_ response: HTTPResponseData, step: String) -> ProviderError {
        let code = XMLText.first("Code", in: response.body) ?? "http.\(response.status)"
        let message = XMLText.first("Message", in: response.body) ?? "HTTP \(response.status)"
        let requestID = XMLText.first("RequestId", in: response.body) ?? response.header("x-oss-request-id")
        return ProviderError(
            step: step, code: code, message: message, requestID: requestID, httpStatus: response.status,
            disposition: AliyunErrors.ossDisposition(code: code, status: response.status))
    }

    func transportError(_ error: TransportError, step: String) -> ProviderError { StoreErrors.transport(error, step: step) }
}
