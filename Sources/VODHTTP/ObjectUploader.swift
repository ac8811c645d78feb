import Crypto
import Foundation
import IngestCore
import Synchronization
import VendorSigning

/// What one S3-like object store (Tencent COS, Alibaba OSS) supplies to ``ObjectUploader``: how a
/// request is addressed and signed, how its errors read, and its checksum headers. The multipart
/// logic, the resume from listed parts, the part-size rules and the progress accounting are the
/// uploader's, written once.
public protocol ObjectStoreDialect: Sendable {
    /// `COS`, `OSS`: for messages.
    var storeName: String { get }
    var partRules: PartRules { get }
    /// The header that carries the store's request id (`x-cos-request-id`, `x-oss-request-id`).
    var requestIDHeader: String { get }
    /// The header with the CRC-64/ECMA of what the store wrote (`x-oss-hash-crc64ecma`); checked
    /// against the local bytes when the store sends it. Nil: the uploader computes none.
    var crc64Header: String? { get }
    /// The request, addressed and signed with `credentials` (Host, date, token and Authorization set).
    func signedRequest(
        method: String, location: ObjectLocation, query: [(String, String)], headers: [(String, String)], body: HTTPBody,
        credentials: TemporaryCredentials, timeout: Duration
    ) -> HTTPRequestSpec
    /// A store error (status ≥ 300, or an error body inside a 200) as a ``ProviderError`` with its disposition.
    func error(_ response: HTTPResponseData, step: String) -> ProviderError
    /// A transport failure (timeout, reset, unreadable file) as a ``ProviderError``.
    func transportError(_ error: TransportError, step: String) -> ProviderError
}

/// Error codes of a store to dispositions, shared by the dialects.
public enum StoreErrors {
    public static func transport(_ error: TransportError, step: String) -> ProviderError {
        switch error.kind {
        case .timeout, .connection, .responseTooLarge:
            ProviderError(step: step, code: "network.\(error.kind.rawValue)", message: error.message, disposition: .retry)
        case .fileUnreadable:
            ProviderError(step: step, code: "file.unreadable", message: error.message, disposition: .failItem)
        case .invalidURL:
            ProviderError(step: step, code: "config.invalid-url", message: error.message, disposition: .abortRun)
        case .cancelled:
            ProviderError(step: step, code: "cancelled", message: error.message, disposition: .retry)
        }
    }
}

/// Uploads files to an S3-like store: one PUT up to the part size, multipart above it (parts in
/// parallel, each hashed as it is sent and checked against the CRC-64, or the ETag, the store returns), a
/// multipart upload continued from the parts the store lists, credentials refreshed in place before
/// a request when they are about to expire (where the platform can: ``TransferCheckpoint/refreshCredentials``).
public struct ObjectUploader: Sendable {
    public let dialect: any ObjectStoreDialect
    public let transport: any HTTPTransport
    /// Preferred multipart part size (raised when a file would need more than the store's part limit).
    public var partSize: Int64
    /// Parts of one file in flight at once.
    public var partConcurrency: Int
    public var requestTimeout: Duration
    /// Deadline of one part (or simple PUT) exchange.
    public var transferTimeout: Duration
    /// Attempts of one request before the step fails with the last error.
    public var partAttempts: Int
    /// What the uploader learnt of the store's answers (shared by its copies).
    let integrity = Integrity()

    /// Whether the store returns a CRC-64 for what it wrote: assumed until an answer lacks it,
    /// from then on each body's MD5 is computed in its pass to check the ETag instead.
    final class Integrity: Sendable {
        private let sendsCRC = Atomic<Bool>(true)
        var storeSendsCRC: Bool {
            get { sendsCRC.load(ordering: .relaxed) }
            set { sendsCRC.store(newValue, ordering: .relaxed) }
        }
    }

    public init(
        dialect: any ObjectStoreDialect, transport: any HTTPTransport, partSize: Int64, partConcurrency: Int,
        requestTimeout: Duration = .seconds(30),
        transferTimeout: Duration = .seconds(600), partAttempts: Int = 5
    ) {
        self.dialect = dialect
        self.transport = transport
        self.partSize = partSize
        self.partConcurrency = max(1, partConcurrency)
        self.requestTimeout = requestTimeout
        self.transferTimeout = transferTimeout
        self.partAttempts = max(1, partAttempts)
    }

    /// The credentials of one transfer: refreshed once (by one caller) when they near their expiry,
    /// or when the store refused them as expired.
    final class Credentials: Sendable {
        private let current: Mutex<TemporaryCredentials>
        private let refresher: (@Sendable () async throws -> TemporaryCredentials)?
        private let margin: Int64

        init(_ credentials: TemporaryCredentials, refresh: (@Sendable () async throws -> TemporaryCredentials)?, margin: Int64) {
            current = Mutex(credentials)
            refresher = refresh
            self.margin = margin
        }

        var canRefresh: Bool { refresher != nil }

        /// The credentials to sign the next request with; refreshed when they near their expiry, or,
        /// where they cannot be, refused once expired (the store would refuse the request anyway).
        func get() async throws -> TemporaryCredentials {
            let now = Int64(Date().timeIntervalSince1970)
            let value = current.withLock { $0 }
            guard refresher != nil else {
                guard value.expiresAt > now else {
                    throw ProviderError(
                        step: "upload", code: "credentials.expired",
                        message:
                            "the session's temporary credentials expired \(now - value.expiresAt) s ago, before this request; the platform "
                            + "cannot refresh them, so the transfer needs a new session (a file that outlives every session: raise --bandwidth)",
                        disposition: .renewSession)
                }
                return value
            }
            guard value.expiresAt < now + margin else { return value }
            return try await refresh(replacing: value)
        }

        /// Fresh credentials, unless another request replaced `old` already.
        func refresh(replacing old: TemporaryCredentials) async throws -> TemporaryCredentials {
            guard let refresher else { return old }
            let latest = current.withLock { $0 }
            if latest != old { return latest }
            let fresh = try await refresher()
            current.withLock { $0 = fresh }
            return fresh
        }
    }

    /// Sends one signed request; an error status (or a store error) is thrown as a ``ProviderError``.
    public func send(
        _ method: String, _ location: ObjectLocation, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: HTTPBody = .empty, credentials: TemporaryCredentials, step: String, timeout: Duration? = nil
    ) async throws -> HTTPResponseData {
        let spec = dialect.signedRequest(
            method: method, location: location, query: query, headers: headers, body: body, credentials: credentials,
            timeout: timeout ?? requestTimeout)
        let response: HTTPResponseData
        do {
            response = try await transport.send(spec)
        } catch let error as TransportError {
            throw dialect.transportError(error, step: step)
        }
        if response.status >= 300 { throw dialect.error(response, step: step) }
        return response
    }

    /// Uploads `path` (`size` bytes) to `location`, continuing `checkpoint.uploadID` when the store
    /// still knows it. Each byte is read once: it is hashed (CRC-64, and MD5 where needed) as it is
    /// sent, and the hashes are checked against what the store answers.
    public func upload(
        file path: String, size: Int64, to location: ObjectLocation, credentials initial: TemporaryCredentials, step: String,
        checkpoint: TransferCheckpoint
    ) async throws -> TransferResult {
        let credentials = Credentials(initial, refresh: checkpoint.refreshCredentials, margin: checkpoint.credentialMargin)
        let plan = PartPlan(size: size, preferredPartSize: partSize, rules: dialect.partRules)
        if plan.mode == .simple {
            let sent = try await retrying(step: step, credentials: credentials, checkpoint: checkpoint) { current in
                try await putRange(
                    path, offset: 0, length: size, location: location, query: [], credentials: current, step: step,
                    md5: checkpoint.wantsMD5)
            }
            checkpoint.progress(size)
            // The MD5 computed, else the store's ETag of the bytes whose CRC-64 matched (a simple
            // object's ETag is its MD5).
            let md5 = sent.md5.map { Hex.encode($0) } ?? Self.md5(ofETag: sent.etag)
            return TransferResult(md5: md5, crc64: sent.crc64)
        }
        // The parts the store has of an earlier upload, if it still knows it.
        var kept: [Int: Digest] = [:]
        var uploadID = checkpoint.uploadID
        if let earlier = uploadID {
            if let listed = try await listParts(
                uploadID: earlier, location: location, credentials: credentials, step: step, checkpoint: checkpoint)
            {
                kept = try keptParts(listed, plan: plan, path: path, step: step)
            } else {
                uploadID = nil
            }
        }
        if uploadID == nil {
            let initiated = try await retrying(step: step, credentials: credentials, checkpoint: checkpoint) { current in
                try await send("POST", location, query: [("uploads", "")], credentials: current, step: step)
            }
            guard let id = XMLText.first("UploadId", in: initiated.body), !id.isEmpty else {
                throw ProviderError(
                    step: step, code: "response.malformed", message: "\(dialect.storeName) Initiate Multipart Upload returned no UploadId",
                    disposition: .retry)
            }
            try await checkpoint.multipartStarted(id)
            uploadID = id
        }
        let id = uploadID!
        let resumedBytes = kept.keys.reduce(Int64(0)) { $0 + plan.length(ofPart: $1) }
        do {
            // A whole-file MD5 needs the bytes in order: the parts go one after another, hashed as
            // they are sent. A resumed upload whose kept parts were not re-sent reads the file for it.
            let inOrder = checkpoint.wantsMD5 && kept.isEmpty
            async let separate: String? =
                checkpoint.wantsMD5 && !inOrder ? Self.wholeMD5(path: path, size: size, step: step, dialect: dialect) : nil
            let (digests, whole) = try await uploadParts(
                path, plan: plan, uploadID: id, kept: kept, location: location, credentials: credentials, step: step,
                checkpoint: checkpoint,
                wholeMD5: inOrder)
            let crc = try await complete(
                uploadID: id, digests: digests, plan: plan, location: location, credentials: credentials, step: step, checkpoint: checkpoint
            )
            let md5 = try await separate ?? whole
            return TransferResult(md5: md5, crc64: crc, resumedBytes: resumedBytes)
        } catch is CancellationError {
            // Stopped, not failed: the journal keeps the upload id, and a resume continues it.
            throw CancellationError()
        } catch let error as ProviderError where error.disposition == .renewSession {
            // Credentials the store refuses cannot abort either; a refreshed session may continue it.
            throw error
        } catch {
            // Leave nothing behind on the platform.
            await abort(uploadID: id, location: location, credentials: try? await credentials.get(), step: step)
            throw error
        }
    }

    /// The MD5 an ETag states (`"hex"`, any case), or nil when it is not one (a multipart ETag).
    static func md5(ofETag etag: String) -> String? {
        let hex = etag.replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: "&quot;", with: "").lowercased()
        return hex.count == 32 && hex.allSatisfy(\.isHexDigit) ? hex : nil
    }

    /// Abort Multipart Upload, best effort.
    public func abort(uploadID: String, location: ObjectLocation, credentials: TemporaryCredentials?, step: String) async {
        guard let credentials else { return }
        _ = try? await send("DELETE", location, query: [("uploadId", uploadID)], credentials: credentials, step: step)
    }

    /// What the uploader knows of one part: ETag (as the store prints it), CRC-64 of the local bytes,
    /// and their MD5 where it was computed.
    struct Digest: Sendable {
        var etag: String
        var md5: [UInt8]?
        var crc64: UInt64
        /// The running whole-file MD5 after this part, when the parts go in order.
        var whole: Insecure.MD5? = nil
    }

    /// ListParts of `uploadID`, every page: part number to (ETag, size); nil when the store no
    /// longer knows the upload (completed, aborted or expired).
    func listParts(
        uploadID: String, location: ObjectLocation, credentials: Credentials, step: String, checkpoint: TransferCheckpoint
    ) async throws -> [Int: (etag: String, size: Int64)]? {
        var parts: [Int: (etag: String, size: Int64)] = [:]
        var marker = 0
        while true {
            let response: HTTPResponseData
            do {
                response = try await retrying(step: step, credentials: credentials, checkpoint: checkpoint) { current in
                    try await send(
                        "GET", location, query: [("part-number-marker", String(marker)), ("uploadId", uploadID)], credentials: current,
                        step: step)
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
    /// official SDKs' resume: the store decides, not the journal.
    private func keptParts(
        _ listed: [Int: (etag: String, size: Int64)], plan: PartPlan, path: String, step: String
    ) throws -> [Int: Digest] {
        var kept: [Int: Digest] = [:]
        for (number, part) in listed where number >= 1 && number <= plan.partCount {
            let offset = Int64(number - 1) * plan.partSize
            let length = plan.length(ofPart: number)
            guard part.size == length else { continue }
            let digest: (md5: [UInt8], crc64: UInt64?)
            do {
                digest = try FileRange.digest(path: path, offset: offset, length: length, crc: true)
            } catch let error as TransportError {
                throw dialect.transportError(error, step: step)
            }
            if Self.etag(part.etag, matches: digest.md5) { kept[number] = Digest(etag: part.etag, md5: digest.md5, crc64: digest.crc64!) }
        }
        return kept
    }

    /// Whether a store's ETag (quoted or not, either case) is the MD5 `md5`.
    static func etag(_ etag: String, matches md5: [UInt8]) -> Bool {
        etag.replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: "&quot;", with: "").lowercased() == Hex.encode(md5)
    }

    /// MD5 of the whole file, read off the cooperative threads.
    static func wholeMD5(path: String, size: Int64, step: String, dialect: any ObjectStoreDialect) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                do {
                    continuation.resume(returning: Hex.encode(try FileRange.md5(path: path, offset: 0, length: size)))
                } catch let error as TransportError {
                    continuation.resume(throwing: dialect.transportError(error, step: step))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The missing parts, `partConcurrency` at a time, or one after another carrying the whole
    /// file's MD5 (`wholeMD5`); returns every part's digest and that MD5.
    private func uploadParts(
        _ path: String, plan: PartPlan, uploadID: String, kept: [Int: Digest], location: ObjectLocation, credentials: Credentials,
        step: String, checkpoint: TransferCheckpoint, wholeMD5: Bool
    ) async throws -> ([Digest], String?) {
        var digests = [Digest?](repeating: nil, count: plan.partCount)
        for (number, digest) in kept { digests[number - 1] = digest }
        let missing = (1...plan.partCount).filter { kept[$0] == nil }
        func part(_ number: Int, continuing whole: Insecure.MD5?) async throws -> Digest {
            let offset = Int64(number - 1) * plan.partSize
            let length = plan.length(ofPart: number)
            let digest = try await retrying(step: step, credentials: credentials, checkpoint: checkpoint) { current in
                try await putRange(
                    path, offset: offset, length: length, location: location,
                    query: [("partNumber", String(number)), ("uploadId", uploadID)], credentials: current, step: step, md5: false,
                    continuing: whole)
            }
            checkpoint.progress(length)
            try await checkpoint.partConfirmed(number, digest.etag, length)
            return digest
        }
        if wholeMD5 {
            var whole = Insecure.MD5()
            for number in missing {
                let digest = try await part(number, continuing: whole)
                whole = digest.whole!
                digests[number - 1] = digest
            }
            return (digests.map { $0! }, Hex.encode(whole.finalize()))
        }
        try await withThrowingTaskGroup(of: (Int, Digest).self) { group in
            var next = 0
            func add() {
                let number = missing[next]
                next += 1
                group.addTask { (number, try await part(number, continuing: nil)) }
            }
            for _ in 0..<min(partConcurrency, missing.count) { add() }
            while let (number, digest) = try await group.next() {
                digests[number - 1] = digest
                if next < missing.count { add() }
            }
        }
        return (digests.map { $0! }, nil)
    }

    /// PUTs a byte range, hashing it as it is read for sending, and checks the store's CRC-64 of
    /// it, or, where the store sends none, its ETag against the MD5 (computed in the same pass
    /// once the uploader knows the store sends no CRC; for the first such answer, by reading the
    /// range again). Returns what was sent.
    private func putRange(
        _ path: String, offset: Int64, length: Int64, location: ObjectLocation, query: [(String, String)],
        credentials: TemporaryCredentials, step: String, md5 wantsMD5: Bool, continuing whole: Insecure.MD5? = nil
    ) async throws -> Digest {
        let digest = BodyDigest(md5: wantsMD5 || !integrity.storeSendsCRC, continuing: whole)
        let response = try await send(
            "PUT", location, query: query, body: .file(path: path, offset: offset, length: length, digest: digest),
            credentials: credentials,
            step: step, timeout: transferTimeout)
        let what = query.isEmpty ? "the object" : "part \(query[0].1)"
        guard let etag = response.header("ETag") else {
            throw ProviderError(
                step: step, code: "etag.missing", message: "\(dialect.storeName) answered the PUT of \(what) without an ETag",
                requestID: response.header(dialect.requestIDHeader), httpStatus: response.status, disposition: .retry)
        }
        guard digest.bytes == length else {
            throw ProviderError(
                step: step, code: "transfer.short", message: "\(digest.bytes) of \(length) bytes of \(what) were sent", disposition: .retry)
        }
        let crc = digest.crc64
        var md5 = digest.md5
        if try !checkCRC(response, expected: crc, step: step, what: what) {
            // No CRC from this store: the ETag (the MD5 of a part or simple object) is the check.
            integrity.storeSendsCRC = false
            if md5 == nil {
                do {
                    md5 = try FileRange.md5(path: path, offset: offset, length: length)
                } catch let error as TransportError {
                    throw dialect.transportError(error, step: step)
                }
            }
        }
        if let md5, !Self.etag(etag, matches: md5) {
            throw ProviderError(
                step: step, code: "etag.mismatch",
                message: "\(dialect.storeName) stored bytes whose ETag \(etag) is not the MD5 \(Hex.encode(md5)) of what was sent",
                requestID: response.header(dialect.requestIDHeader), httpStatus: response.status, disposition: .retry)
        }
        return Digest(etag: etag, md5: md5, crc64: crc, whole: digest.whole)
    }

    /// A CRC-64 header that disagrees with the local bytes is a corrupted transfer: retried.
    /// - Returns: whether the store sent a CRC-64 to check.
    @discardableResult
    private func checkCRC(_ response: HTTPResponseData, expected: UInt64?, step: String, what: String) throws -> Bool {
        guard let header = dialect.crc64Header, let expected, let given = response.header(header) else { return false }
        guard UInt64(given) == expected else {
            throw ProviderError(
                step: step, code: "crc64.mismatch",
                message: "\(dialect.storeName) reports CRC-64 \(given) for \(what), the local bytes have \(expected)",
                requestID: response.header(dialect.requestIDHeader), httpStatus: response.status, disposition: .retry)
        }
        return true
    }

    /// Complete Multipart Upload; returns the whole object's CRC-64, combined from the parts' (as
    /// oss2 and cos-python-sdk check it) and checked against the store's when it sends one.
    @discardableResult
    private func complete(
        uploadID: String, digests: [Digest], plan: PartPlan, location: ObjectLocation, credentials: Credentials, step: String,
        checkpoint: TransferCheckpoint
    ) async throws -> UInt64 {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><CompleteMultipartUpload>"
        for (index, digest) in digests.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(XMLText.escape(digest.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        let whole = digests.enumerated().reduce(UInt64(0)) { crc, entry in
            entry.offset == 0
                ? entry.element.crc64 : CRC64.combine(crc, entry.element.crc64, lengthOfB: plan.length(ofPart: entry.offset + 1))
        }
        try await retrying(step: step, credentials: credentials, checkpoint: checkpoint) { current in
            let response = try await send(
                "POST", location, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")],
                body: .bytes(body), credentials: current, step: step, timeout: .seconds(1200))
            // COS may answer 200 at once and report a failure in the body.
            if XMLText.first("Code", in: response.body) != nil || XMLText.first("ETag", in: response.body) == nil {
                var failed = dialect.error(response, step: step)
                if XMLText.first("Code", in: response.body) == nil {
                    failed.code = "complete.no-etag"
                    failed.message = "\(dialect.storeName) Complete Multipart Upload answered 200 without an ETag"
                    failed.disposition = .retry
                }
                throw failed
            }
            try checkCRC(response, expected: whole, step: step, what: "the completed object")
        }
        return whole
    }

    /// Retries one request (a part, a PUT, initiate, list, complete) on transient errors and
    /// throttling, with backoff, and once with refreshed credentials when the store says they
    /// expired and the platform can refresh them; `checkpoint.retrying` hears of each retry.
    @discardableResult
    func retrying<T>(
        step: String, credentials: Credentials, checkpoint: TransferCheckpoint, _ body: (TemporaryCredentials) async throws -> T
    ) async throws -> T {
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            let current = try await credentials.get()
            do {
                return try await body(current)
            } catch let error as ProviderError where error.disposition == .renewSession && credentials.canRefresh && !refreshed {
                refreshed = true
                checkpoint.retrying(error)
                _ = try await credentials.refresh(replacing: current)
            } catch let error as ProviderError
                where (error.disposition == .retry || error.disposition == .throttled) && attempt < partAttempts
            {
                checkpoint.retrying(error)
                try await Task.sleep(for: Backoff.delay(attempt: attempt))
            }
        }
    }
}
