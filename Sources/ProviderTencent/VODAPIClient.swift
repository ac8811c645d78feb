import Foundation
import IngestCore
import VODHTTP
import VendorSigning

/// The Tencent Cloud API 3.0 transport for VOD: POST JSON to `/`, TC3-signed, the envelopes of
/// protocol notes §2.2 (errors arrive with HTTP 200 inside `Response.Error`).
struct VODAPIClient: Sendable {
    let configuration: TencentConfiguration
    let transport: any HTTPTransport
    let now: @Sendable () -> Date

    static let version = "2018-07-17"

    /// Calls `action` with `parameters` (nil values left out).
    /// - Throws: ``ProviderError`` classified by ``TencentErrors``; `CancellationError`.
    func call(_ action: String, _ parameters: [String: Any?], step: String) async throws -> APIAnswer {
        let object = parameters.compactMapValues { $0 }
        let body = Array(try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]))
        let timestamp = Int64(now().timeIntervalSince1970)
        let host = configuration.endpointHost
        let signed = [TC3Signature.Header("Content-Type", "application/json"), TC3Signature.Header("Host", host)]
        let credentials = configuration.credentials
        let authorization = TC3Signature.authorization(
            secretID: credentials.secretID, secretKey: credentials.secretKey, service: "vod", timestamp: timestamp,
            headers: signed, body: body)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"), ("Host", host), ("X-TC-Action", action),
            ("X-TC-Version", Self.version), ("X-TC-Timestamp", String(timestamp)), ("X-TC-Language", "en-US"),
            ("X-TC-RequestClient", "vodingest"), ("Authorization", authorization),
        ]
        if let region = configuration.region { headers.append(("X-TC-Region", region)) }
        if let token = credentials.token { headers.append(("X-TC-Token", token)) }
        let response: HTTPResponseData
        do {
            response = try await transport.send(
                HTTPRequestSpec(
                    method: "POST", url: configuration.endpoint.absoluteString, headers: headers, body: .bytes(body),
                    timeout: configuration.apiTimeout, responseLimit: 4 << 20))
        } catch let error as TransportError {
            throw TencentErrors.transport(error, step: step)
        }
        guard response.status == 200 else {
            throw ProviderError(
                step: step, code: "http.\(response.status)",
                message:
                    "\(action) answered HTTP \(response.status) (the API answers errors with 200; a proxy or load balancer is in the way?)",
                httpStatus: response.status, disposition: response.status >= 500 || response.status == 429 ? .retry : .failItem)
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let envelope = json["Response"] as? [String: Any]
        else {
            throw ProviderError(
                step: step, code: "response.malformed", message: "\(action) answered something that is not an API 3.0 envelope",
                httpStatus: response.status, disposition: .retry)
        }
        let requestID = envelope["RequestId"] as? String ?? ""
        if let error = envelope["Error"] as? [String: Any] {
            let code = error["Code"] as? String ?? "UnknownError"
            let message = error["Message"] as? String ?? ""
            throw ProviderError(
                step: step, code: code, message: message, requestID: requestID, httpStatus: 200,
                disposition: TencentErrors.apiDisposition(code: code, step: step))
        }
        return APIAnswer(response: envelope, requestID: requestID)
    }
}

/// Error codes to dispositions, as data (protocol notes §2.4 and §4.5).
public enum TencentErrors {
    /// API 3.0 codes, matched on the code or its prefix before the first `.`.
    static let api: [String: Disposition] = [
        "RequestLimitExceeded": .throttled,
        "InternalError": .retry,
        "ServiceUnavailable": .retry,
        "ResourceUnavailable": .retry,
        "AuthFailure.SignatureExpire": .retry,  // re-signed with a fresh timestamp on the retry
        "AuthFailure": .abortRun,
        "UnauthorizedOperation": .abortRun,
        "FailedOperation.InvalidVodUser": .abortRun,
        "InvalidParameterValue.SubAppId": .abortRun,
    ]

    /// COS codes (the XML `<Code>`).
    static let cos: [String: Disposition] = [
        "SlowDown": .throttled, "ServiceUnavailable": .retry, "InternalError": .retry, "RequestTimeout": .retry,
        "ExpiredToken": .renewSession, "InvalidToken": .renewSession, "InvalidAccessKeyId": .renewSession,
        "NoSuchUpload": .retry,
    ]

    public static func apiDisposition(code: String, step: String) -> Disposition {
        if let exact = api[code] { return exact }
        if let dot = code.firstIndex(of: "."), let family = api[String(code[..<dot])] { return family }
        return .failItem
    }

    public static func cosDisposition(code: String, status: Int, message: String) -> Disposition {
        if let known = cos[code] { return known }
        if code == "AccessDenied", message.lowercased().contains("expired") { return .renewSession }
        if status >= 500 { return .retry }
        return .failItem
    }

    static func transport(_ error: TransportError, step: String) -> ProviderError { StoreErrors.transport(error, step: step) }
}
