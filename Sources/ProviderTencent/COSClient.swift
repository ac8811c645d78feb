import Foundation
import IngestCore
import TencentSigning
import VODHTTP

/// COS object storage with a session's temporary credentials: PUT Object and multipart upload
/// (protocol notes §4), q-signed, `x-cos-security-token` on every request, Content-MD5 on every
/// body and the returned ETag checked.
struct COSClient: Sendable {
    let configuration: TencentConfiguration
    let transport: any HTTPTransport
    let now: @Sendable () -> Date

    static func host(_ location: ObjectLocation) -> String { "\(location.bucket).cos.\(location.region).myqcloud.com" }

    /// Sends one signed request.
    func send(
        _ method: String, _ location: ObjectLocation, query: [(String, String)] = [], headers extra: [(String, String)] = [],
        body: HTTPBody = .empty, credentials: TemporaryCredentials, step: String, timeout: Duration
    ) async throws -> HTTPResponseData {
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
        let base = configuration.cosEndpoint.map { $0.absoluteString.hasSuffix("/") ? String($0.absoluteString.dropLast()) : $0.absoluteString }
            ?? "https://\(host)"
        var url = base + COSSignature.encodePath(path)
        if !query.isEmpty {
            url += "?" + query.map { $0.1.isEmpty ? COSSignature.encode($0.0) : "\(COSSignature.encode($0.0))=\(COSSignature.encode($0.1))" }
                .joined(separator: "&")
        }
        // Host is sent explicitly; Content-Length is set by the transport from the body.
        let sent = headers.filter { $0.0 != "Content-Length" }
        let response: HTTPResponseData
        do {
            response = try await transport.send(HTTPRequestSpec(
                method: method, url: url, headers: sent, body: body, timeout: timeout, responseLimit: 4 << 20))
        } catch let error as TransportError {
            throw TencentErrors.transport(error, step: step)
        }
        if response.status >= 300 {
            throw Self.error(response, step: step)
        }
        return response
    }

    /// A COS XML error (or a bare status) as a ``ProviderError``.
    static func error(_ response: HTTPResponseData, step: String) -> ProviderError {
        let code = XMLText.first("Code", in: response.body) ?? "http.\(response.status)"
        let message = XMLText.first("Message", in: response.body) ?? "HTTP \(response.status)"
        let requestID = XMLText.first("RequestId", in: response.body) ?? response.header("x-cos-request-id")
        return ProviderError(
            step: step, code: code, message: message, requestID: requestID, httpStatus: response.status,
            disposition: TencentErrors.cosDisposition(code: code, status: response.status, message: message))
    }

    /// Uploads `file` to `location`: one PUT up to the part size, multipart above it.
    func upload(
        file path: String, size: Int64, to location: ObjectLocation, credentials: TemporaryCredentials, step: String,
        progress: @escaping @Sendable (Int64) -> Void
    ) async throws {
        let plan = PartPlan(size: size, preferredPartSize: configuration.partSize, rules: TencentConfiguration.partRules)
        if plan.mode == .simple {
            try await retryingPart(step: step) {
                try await putRange(path, offset: 0, length: size, location: location, query: [], credentials: credentials, step: step)
            }
            progress(size)
            return
        }
        let initiated = try await retryingPart(step: step) {
            try await send("POST", location, query: [("uploads", "")], credentials: credentials, step: step, timeout: configuration.apiTimeout)
        }
        guard let uploadID = XMLText.first("UploadId", in: initiated.body), !uploadID.isEmpty else {
            throw ProviderError(step: step, code: "response.malformed", message: "Initiate Multipart Upload returned no UploadId", disposition: .retry)
        }
        do {
            let etags = try await uploadParts(path, plan: plan, uploadID: uploadID, location: location, credentials: credentials, step: step, progress: progress)
            try await complete(uploadID: uploadID, etags: etags, location: location, credentials: credentials, step: step)
        } catch {
            // Leave nothing behind on the platform: abort (best effort, not when cancelled mid-way
            // with the journal in charge of resuming; until then, always).
            _ = try? await send("DELETE", location, query: [("uploadId", uploadID)], credentials: credentials, step: step, timeout: configuration.apiTimeout)
            throw error
        }
    }

    private func uploadParts(
        _ path: String, plan: PartPlan, uploadID: String, location: ObjectLocation, credentials: TemporaryCredentials,
        step: String, progress: @escaping @Sendable (Int64) -> Void
    ) async throws -> [String] {
        var etags = Array(repeating: "", count: plan.partCount)
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var next = 0
            func add() {
                let index = next
                next += 1
                let offset = Int64(index) * plan.partSize
                let length = min(plan.partSize, plan.size - offset)
                group.addTask {
                    let etag = try await retryingPart(step: step) {
                        try await putRange(
                            path, offset: offset, length: length, location: location,
                            query: [("partNumber", String(index + 1)), ("uploadId", uploadID)], credentials: credentials, step: step)
                    }
                    progress(length)
                    return (index, etag)
                }
            }
            for _ in 0..<min(max(1, configuration.partConcurrency), plan.partCount) { add() }
            while let (index, etag) = try await group.next() {
                etags[index] = etag
                if next < plan.partCount { add() }
            }
        }
        return etags
    }

    /// PUTs a byte range with its Content-MD5 and checks the ETag; returns the ETag (quoted).
    private func putRange(
        _ path: String, offset: Int64, length: Int64, location: ObjectLocation, query: [(String, String)],
        credentials: TemporaryCredentials, step: String
    ) async throws -> String {
        let md5: [UInt8]
        do {
            md5 = try FileRange.md5(path: path, offset: offset, length: length)
        } catch let error as TransportError {
            throw TencentErrors.transport(error, step: step)
        }
        let response = try await send(
            "PUT", location, query: query, headers: [("Content-MD5", Data(md5).base64EncodedString())],
            body: .file(path: path, offset: offset, length: length), credentials: credentials, step: step,
            timeout: configuration.transferTimeout)
        let expected = "\"" + Hex.encode(md5) + "\""
        guard let etag = response.header("ETag"), etag.lowercased() == expected else {
            throw ProviderError(
                step: step, code: "etag.mismatch",
                message: "COS stored bytes whose ETag \(response.header("ETag") ?? "(none)") is not the MD5 \(expected) of what was sent",
                requestID: response.header("x-cos-request-id"), httpStatus: response.status, disposition: .retry)
        }
        return etag
    }

    private func complete(uploadID: String, etags: [String], location: ObjectLocation, credentials: TemporaryCredentials, step: String) async throws {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(XMLText.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        try await retryingPart(step: step) {
            let response = try await send(
                "POST", location, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")],
                body: .bytes(body), credentials: credentials, step: step, timeout: .seconds(1200))
            // COS may answer 200 at once and report a failure in the body (protocol notes §4.4).
            if XMLText.first("Code", in: response.body) != nil || XMLText.first("ETag", in: response.body) == nil {
                var failed = Self.error(response, step: step)
                if XMLText.first("Code", in: response.body) == nil {
                    failed.code = "complete.no-etag"
                    failed.message = "Complete Multipart Upload answered 200 without an ETag"
                    failed.disposition = .retry
                }
                throw failed
            }
        }
    }

    /// Retries one request (a part, a PUT, initiate, complete) on transient errors, with backoff,
    /// before letting the step fail.
    @discardableResult
    func retryingPart<T>(step: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let error as ProviderError where error.disposition == .retry && attempt < configuration.partAttempts {
                try await Task.sleep(for: Backoff.delay(attempt: attempt))
            }
        }
    }
}
