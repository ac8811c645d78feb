import Foundation
import IngestCore
import VODHTTP
import VendorSigning

/// The Alibaba Cloud VOD RPC transport (API 2017-03-21, protocol notes §3): every parameter in the
/// query string of a POST to `/`, signed with V1 (HMAC-SHA1, what aliyunsdkcore sends), JSON
/// envelopes with errors as HTTP 4xx/5xx.
struct AliyunRPCClient: Sendable {
    let configuration: AliyunConfiguration
    let transport: any HTTPTransport
    let now: @Sendable () -> Date

    static let version = "2017-03-21"

    /// Calls `action` with `parameters` (nil values left out); a fresh nonce and timestamp each call.
    func call(_ action: String, _ parameters: [String: String?], step: String) async throws -> APIAnswer {
        let credentials = configuration.credentials
        var pairs: [(String, String)] = parameters.compactMap { key, value in value.map { (key, $0) } }.sorted { $0.0 < $1.0 }
        pairs += [
            ("Action", action), ("Version", Self.version), ("Format", "JSON"), ("AccessKeyId", credentials.accessKeyID),
            ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"),
            ("SignatureNonce", UUID().uuidString.lowercased()), ("Timestamp", ISO8601Timestamp.format(Int64(now().timeIntervalSince1970))),
            ("RegionId", configuration.region),
        ]
        if let token = credentials.securityToken { pairs.append(("SecurityToken", token)) }
        let (query, stringToSign) = AliyunRPCSignature.signedQuery(method: "POST", parameters: pairs, secret: credentials.accessKeySecret)
        var base = configuration.endpoint.absoluteString
        if base.hasSuffix("/") { base.removeLast() }
        let response: HTTPResponseData
        do {
            response = try await transport.send(
                HTTPRequestSpec(
                    method: "POST", url: base + "/?" + query, headers: [("x-acs-action", action), ("x-acs-version", Self.version)],
                    body: .empty, timeout: configuration.apiTimeout, responseLimit: 4 << 20))
        } catch let error as TransportError {
            throw StoreErrors.transport(error, step: step)
        }
        let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let requestID = json?["RequestId"] as? String ?? ""
        guard response.status == 200 else {
            var code = json?["Code"] as? String ?? "http.\(response.status)"
            var message = json?["Message"] as? String ?? "\(action) answered HTTP \(response.status)"
            // As aliyunsdkcore does: the platform signed the same string, so the secret is wrong.
            if code == "SignatureDoesNotMatch", let range = message.range(of: "server string to sign is:") {
                if message[range.upperBound...] == stringToSign {
                    code = "InvalidAccessKeySecret"
                    message = "the AccessKey secret does not belong to the AccessKey id (check ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
                } else {
                    message = "the platform signed another string than this request's (a proxy changed the request?)"
                }
            }
            throw ProviderError(
                step: step, code: code, message: message, requestID: requestID.isEmpty ? nil : requestID, httpStatus: response.status,
                disposition: AliyunErrors.apiDisposition(code: code, status: response.status))
        }
        guard let json else {
            throw ProviderError(
                step: step, code: "response.malformed", message: "\(action) answered something that is not a JSON object",
                httpStatus: response.status, disposition: .retry)
        }
        return APIAnswer(response: json, requestID: requestID)
    }
}

/// Alibaba error codes to dispositions, as data (protocol notes §3.5 and §5.5).
public enum AliyunErrors {
    /// VOD API codes, matched exactly, then by the family before the first `.`.
    static let api: [String: Disposition] = [
        "Throttling": .throttled, "Throttling.User": .throttled, "Throttling.Api": .throttled,
        "ServiceUnavailable": .retry, "ServiceUnAvailable": .retry, "InternalError": .retry, "UnknownError": .retry,
        "AddVideoFailed": .retry,
        // A fresh nonce comes with every attempt.
        "SignatureNonceUsed": .retry,
        "InvalidAccessKeyId": .abortRun, "InvalidAccessKeyId.NotFound": .abortRun, "InvalidAccessKeyId.Inactive": .abortRun,
        "SignatureDoesNotMatch": .abortRun, "IncompleteSignature": .abortRun, "InvalidAccessKeySecret": .abortRun,
        "Forbidden": .abortRun, "OperationDenied": .abortRun, "InvalidSecurityToken": .abortRun,
        // The local clock is off by more than 15 minutes: nothing will pass until it is fixed.
        "InvalidTimeStamp": .abortRun,
    ]

    /// OSS codes (the XML `<Code>`).
    static let oss: [String: Disposition] = [
        "SecurityTokenExpired": .renewSession, "InvalidSecurityToken": .renewSession, "InvalidAccessKeyId": .renewSession,
        "ServiceUnavailable": .retry, "InternalError": .retry, "RequestTimeout": .retry, "SlowDown": .throttled,
        "NoSuchUpload": .retry, "RequestTimeTooSkewed": .abortRun,
    ]

    public static func apiDisposition(code: String, status: Int) -> Disposition {
        if let exact = api[code] { return exact }
        if let dot = code.firstIndex(of: "."), let family = api[String(code[..<dot])] { return family }
        if status >= 500 || status == 429 { return .retry }
        return .failItem
    }

    public static func ossDisposition(code: String, status: Int) -> Disposition {
        if let known = oss[code] { return known }
        if status >= 500 { return .retry }
        return .failItem
    }
}
