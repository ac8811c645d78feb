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

    /// Uploads `file` to `location`: one PUT up to the part size, multipart above it, continuing
    /// `checkpoint.uploadID` when there is one.
    func upload(
        file path: String, size: Int64, to location: ObjectLocation, credentials: TemporaryCredentials, step: String,
        checkpoint: TransferCheckpoint
    ) async throws -> TransferResult {
        let plan = PartPlan(size: size, preferredPartSize: configuration.partSize, rules: TencentConfiguration.partRules)
        if plan.mode == .simple {
            let etag = try await retryingPart(step: step, retrying: checkpoint.retrying) {
                try await putRange(path, offset: 0, length: size, location: location, query: [], credentials: credentials, step: step)
            }
            checkpoint.progress(size)
            return TransferResult(md5: String(etag.lowercased().filter { $0 != "\"" }))
        }
        // The parts the store has of an earlier upload, if it still knows it.
        var kept: [Int: String] = [:]
        var uploadID = checkpoint.uploadID
        if let earlier = uploadID {
            if let listed = try await listParts(
                uploadID: earlier, location: location, credentials: credentials, step: step, retrying: checkpoint.retrying)
            {
                kept = try keptParts(listed, plan: plan, path: path, step: step)
            } else {
                uploadID = nil
            }
        }
        if uploadID == nil {
            let initiated = try await retryingPart(step: step, retrying: checkpoint.retrying) {
                try await send("POST", location, query: [("uploads", "")], credentials: credentials, step: step, timeout: configuration.apiTimeout)
            }
            guard let id = XMLText.first("UploadId", in: initiated.body), !id.isEmpty else {
                throw ProviderError(step: step, code: "response.malformed", message: "Initiate Multipart Upload returned no UploadId", disposition: .retry)
            }
            try await checkpoint.multipartStarted(id)
            uploadID = id
        }
        let id = uploadID!
        let resumedBytes = kept.keys.reduce(Int64(0)) { $0 + plan.length(ofPart: $1) }
        do {
            // The whole file's MD5 (for the report and audits) is read alongside the parts.
            // (unless the caller computed it already).
            let known = checkpoint.md5
            async let whole = known == nil ? Self.wholeMD5(path: path, size: size, step: step) : known!
            let etags = try await uploadParts(
                path, plan: plan, uploadID: id, kept: kept, location: location, credentials: credentials, step: step, checkpoint: checkpoint)
            try await complete(uploadID: id, etags: etags, location: location, credentials: credentials, step: step, retrying: checkpoint.retrying)
            return TransferResult(md5: try await whole, resumedBytes: resumedBytes)
        } catch is CancellationError {
            // Stopped, not failed: the journal keeps the upload id, and a resume continues it.
            throw CancellationError()
        } catch {
            // Leave nothing behind on the platform.
            await abort(uploadID: id, location: location, credentials: credentials, step: step)
            throw error
        }
    }

    /// Abort Multipart Upload, best effort.
    func abort(uploadID: String, location: ObjectLocation, credentials: TemporaryCredentials, step: String) async {
        _ = try? await send("DELETE", location, query: [("uploadId", uploadID)], credentials: credentials, step: step, timeout: configuration.apiTimeout)
    }

    /// ListParts of `uploadID`, every page: part number to (ETag, size); nil when the store no
    /// longer knows the upload (completed, aborted or expired).
    func listParts(
        uploadID: String, location: ObjectLocation, credentials: TemporaryCredentials, step: String,
        retrying: @Sendable (ProviderError) -> Void = { _ in }
    ) async throws -> [Int: (etag: String, size: Int64)]?
    {
        var parts: [Int: (etag: String, size: Int64)] = [:]
        var marker = 0
        while true {
            let response: HTTPResponseData
            do {
                response = try await retryingPart(step: step, retrying: retrying) {
                    try await send(
                        "GET", location, query: [("part-number-marker", String(marker)), ("uploadId", uploadID)], credentials: credentials,
                        step: step, timeout: configuration.apiTimeout)
                }
            } catch let error as ProviderError where error.code == "NoSuchUpload" {
                return nil
            }
            let text = String(decoding: response.body, as: UTF8.self)
            for block in XMLText.blocks("Part", in: text) {
                guard let number = XMLText.first("PartNumber", in: block).flatMap({ Int($0) }),
                    let etag = XMLText.first("ETag", in: block), let size = XMLText.first("Size", in: block).flatMap({ Int64($0) })
                else { continue }
                parts[number] = (etag, size)
            }
            guard XMLText.first("IsTruncated", in: Substring(text)) == "true",
                let next = XMLText.first("NextPartNumberMarker", in: Substring(text)).flatMap({ Int($0) }), next > marker
            else { return parts }
            marker = next
        }
    }

    /// The listed parts that hold exactly the local bytes of their range (size and MD5), like the
    /// official SDK's resume (protocol notes §5.3): the store decides, not the journal.
    private func keptParts(_ listed: [Int: (etag: String, size: Int64)], plan: PartPlan, path: String, step: String) throws -> [Int: String] {
        var kept: [Int: String] = [:]
        for (number, part) in listed where number >= 1 && number <= plan.partCount {
            let offset = Int64(number - 1) * plan.partSize
            let length = plan.length(ofPart: number)
            guard part.size == length else { continue }
            let md5: [UInt8]
            do {
                md5 = try FileRange.md5(path: path, offset: offset, length: length)
            } catch let error as TransportError {
                throw TencentErrors.transport(error, step: step)
            }
            if part.etag.lowercased() == "\"" + Hex.encode(md5) + "\"" { kept[number] = part.etag }
        }
        return kept
    }

    /// MD5 of the whole file, read off the cooperative threads.
    static func wholeMD5(path: String, size: Int64, step: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                do {
                    continuation.resume(returning: Hex.encode(try FileRange.md5(path: path, offset: 0, length: size)))
                } catch let error as TransportError {
                    continuation.resume(throwing: TencentErrors.transport(error, step: step))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func uploadParts(
        _ path: String, plan: PartPlan, uploadID: String, kept: [Int: String], location: ObjectLocation, credentials: TemporaryCredentials,
        step: String, checkpoint: TransferCheckpoint
    ) async throws -> [String] {
        var etags = Array(repeating: "", count: plan.partCount)
        for (number, etag) in kept { etags[number - 1] = etag }
        let missing = (1...plan.partCount).filter { kept[$0] == nil }
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var next = 0
            func add() {
                let number = missing[next]
                next += 1
                let offset = Int64(number - 1) * plan.partSize
                let length = plan.length(ofPart: number)
                group.addTask {
                    let etag = try await retryingPart(step: step, retrying: checkpoint.retrying) {
                        try await putRange(
                            path, offset: offset, length: length, location: location,
                            query: [("partNumber", String(number)), ("uploadId", uploadID)], credentials: credentials, step: step)
                    }
                    checkpoint.progress(length)
                    try await checkpoint.partConfirmed(number, etag, length)
                    return (number, etag)
                }
            }
            for _ in 0..<min(max(1, configuration.partConcurrency), missing.count) { add() }
            while let (number, etag) = try await group.next() {
                etags[number - 1] = etag
                if next < missing.count { add() }
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

    private func complete(
        uploadID: String, etags: [String], location: ObjectLocation, credentials: TemporaryCredentials, step: String,
        retrying: @Sendable (ProviderError) -> Void
    ) async throws {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(XMLText.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        try await retryingPart(step: step, retrying: retrying) {
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

    /// Retries one request (a part, a PUT, initiate, complete) on transient errors and SlowDown,
    /// with backoff, before letting the step fail; `retrying` hears of each retry.
    @discardableResult
    func retryingPart<T>(step: String, retrying: @Sendable (ProviderError) -> Void = { _ in }, _ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let error as ProviderError
                where (error.disposition == .retry || error.disposition == .throttled) && attempt < configuration.partAttempts
            {
                retrying(error)
                try await Task.sleep(for: Backoff.delay(attempt: attempt))
            }
        }
    }
}
