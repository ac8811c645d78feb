import Foundation
import IngestCore
import VODHTTP
import VendorSigning

/// Tencent COS as an ``ObjectStoreDialect`` (protocol notes §4): virtual-host addressing, q-sign
/// with the session's temporary credentials, `x-cos-security-token` on every request, COS XML
/// errors and their dispositions. The upload logic is ``ObjectUploader``'s.
struct COSDialect: ObjectStoreDialect {
    let configuration: TencentConfiguration
    let now: @Sendable () -> Date

    var storeName: String { "COS" }
    var partRules: PartRules { TencentConfiguration.partRules }
    var requestIDHeader: String { "x-cos-request-id" }
    var crc64Header: String? { "x-cos-hash-crc64ecma" }

    static func host(_ location: ObjectLocation) -> String { "\(location.bucket).cos.\(location.region).myqcloud.com" }

    func signedRequest(
        method: String, location: ObjectLocation, query: [(String, String)], headers extra: [(String, String)], body: HTTPBody,
        credentials: TemporaryCredentials, timeout: Duration
    ) -> HTTPRequestSpec {
        let host = Self.host(location)
        let path = "/" + location.key
        var headers: [(String, String)] = [("Host", host)] + extra
        if method == "PUT" || method == "POST" || method == "DELETE" {
            headers.append(("Content-Length", String(body.length)))
        }
        headers.append(("x-cos-security-token", credentials.token))
        let nowSeconds = Int64(now().timeIntervalSince1970)
        let keyTime = "\(nowSeconds - 60);\(max(nowSeconds + 3600, credentials.expiresAt))"
        let signed = headers.filter { COSSignature.isSignable($0.0.lowercased()) }
        let authorization = COSSignature.authorization(
            secretID: credentials.secretID, secretKey: credentials.secretKey, method: method, path: path, query: query,
            headers: signed, keyTime: keyTime)
        headers.append(("Authorization", authorization))
        let base =
            configuration.cosEndpoint.map { $0.absoluteString.hasSuffix("/") ? String($0.absoluteString.dropLast()) : $0.absoluteString }
            ?? "https://\(host)"
        var url = base + COSSignature.encodePath(path)
        if !query.isEmpty {
            url +=
                "?"
                + query.map { $0.1.isEmpty ? COSSignature.encode($0.0) : "\(COSSignature.encode($0.0))=\(COSSignature.encode($0.1))" }
                .joined(separator: "&")
        }
        // Host is sent explicitly; Content-Length is set by the transport from the body.
        return HTTPRequestSpec(
            method: method, url: url, headers: headers.filter { $0.0 != "Content-Length" }, body: body, timeout: timeout,
            responseLimit: 4 << 20)
    }

    /// A COS XML error (or a bare status) as a ``ProviderError``.
    func error(_ response: HTTPResponseData, step: String) -> ProviderError {
        let code = XMLText.first("Code", in: response.body) ?? "http.\(response.status)"
        let message = XMLText.first("Message", in: response.body) ?? "HTTP \(response.status)"
        let requestID = XMLText.first("RequestId", in: response.body) ?? response.header("x-cos-request-id")
        return ProviderError(
            step: step, code: code, message: message, requestID: requestID, httpStatus: response.status,
            disposition: TencentErrors.cosDisposition(code: code, status: response.status, message: message))
    }

    func transportError(_ error: TransportError, step: String) -> ProviderError { StoreErrors.transport(error, step: step) }
}
