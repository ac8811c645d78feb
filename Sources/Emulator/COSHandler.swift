import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import VendorSigning

/// COS (protocol notes §4): q-sign verification against the temporary credentials the emulator
/// issued, token and expiry checks, PUT/HEAD/GET Object and multipart upload with COS XML errors.
struct COSHandler {
    let store: EmulatorStore
    let configuration: EmulatorConfiguration
    /// The connection, for the reset fault.
    let channel: (any Channel)?
    /// Whether the request body has been read: a body can be iterated once, so a refusal after
    /// reading it must not drain it again.
    let bodyRead = BodyRead()

    final class BodyRead: Sendable {
        private let flag = Mutex(false)
        func mark() { flag.withLock { $0 = true } }
        var isSet: Bool { flag.withLock { $0 } }
    }

    struct Failure: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String
    }

    func handle(_ request: Request, bucket: String, region: String, path: String, query: [(String, String)]) async throws -> Response {
        let requestID = UUID().uuidString.lowercased()
        let key = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let names = Set(query.map { $0.0.lowercased() })
        let operation = Self.operation(method: request.method, names: names, key: key)
        await store.countCOS(operation)
        do {
            guard bucket == configuration.bucket, region == configuration.storageRegion else {
                throw Failure(status: .notFound, code: "NoSuchBucket", message: "The specified bucket does not exist.")
            }
            try await verify(request, path: path, query: query, key: key, bucket: bucket)
            if configuration.cosSlowDownRate > 0, Double.random(in: 0..<1) < configuration.cosSlowDownRate {
                throw Failure(
                    status: .serviceUnavailable, code: "SlowDown", message: "Please reduce your request rate (injected by the emulator).")
            }
            let value = { (name: String) in query.first { $0.0.lowercased() == name }?.1 }
            switch operation {
            case "PutObject": return try await putObject(request, bucket: bucket, key: key, requestID: requestID)
            case "UploadPart":
                return try await uploadPart(
                    request, uploadID: value("uploadid") ?? "", number: Int(value("partnumber") ?? "") ?? 0, requestID: requestID)
            case "InitiateMultipartUpload":
                let id = try await store.initiate(bucket: bucket, key: key)
                return xml(
                    "<InitiateMultipartUploadResult><Bucket>\(bucket)</Bucket><Key>\(escape(key))</Key><UploadId>\(id)</UploadId></InitiateMultipartUploadResult>",
                    requestID: requestID)
            case "CompleteMultipartUpload":
                return try await complete(request, bucket: bucket, key: key, uploadID: value("uploadid") ?? "", requestID: requestID)
            case "AbortMultipartUpload":
                guard try await store.finish(value("uploadid") ?? "") != nil else { throw noSuchUpload }
                return Response(status: .noContent, headers: [HTTPField.Name("x-cos-request-id")!: requestID])
            case "ListParts":
                return try await listParts(
                    uploadID: value("uploadid") ?? "", bucket: bucket, key: key, marker: Int(value("part-number-marker") ?? "") ?? 0,
                    maxParts: min(1000, max(1, Int(value("max-parts") ?? "") ?? 1000)), requestID: requestID)
            case "ListMultipartUploads": return await listUploads(bucket: bucket, prefix: value("prefix") ?? "", requestID: requestID)
            case "HeadObject", "GetObject":
                return try await getObject(bucket: bucket, key: key, head: operation == "HeadObject", requestID: requestID)
            default:
                throw Failure(
                    status: .methodNotAllowed, code: "MethodNotAllowed",
                    message: "The specified method is not allowed against this resource.")
            }
        } catch let failure as Failure {
            await store.countCOSError(failure.code)
            // Drain what the client is still sending so the connection stays usable.
            if request.method == .put || request.method == .post, !bodyRead.isSet { await drain(request.body) }
            if request.method == .head {
                return Response(status: failure.status, headers: [HTTPField.Name("x-cos-request-id")!: requestID])
            }
            return xml(
                "<Error><Code>\(failure.code)</Code><Message>\(escape(failure.message))</Message><Resource>\(bucket).cos.\(region).myqcloud.com\(escape(path))</Resource><RequestId>\(requestID)</RequestId><TraceId>\(requestID)</TraceId></Error>",
                status: failure.status, requestID: requestID)
        }
    }

    /// The connection-reset fault: reads `count` bytes of the body, then cuts the connection with a
    /// TCP reset (SO_LINGER 0) and no response, as a failing network or load balancer would.
    func reset(after count: Int64, of body: RequestBody) async throws -> Never {
        var seen: Int64 = 0
        for try await buffer in body {
            seen += Int64(buffer.readableBytes)
            if seen >= count { break }
        }
        await store.countReset()
        if let channel {
            if let socket = channel as? any SocketOptionProvider { try? await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get() }
            try? await channel.close().get()
        }
        throw CancellationError()
    }

    /// Reads and discards what is left of a body (nothing is kept in memory).
    func drain(_ body: RequestBody) async {
        do { for try await _ in body {} } catch {}
    }

    var noSuchUpload: Failure { Failure(status: .notFound, code: "NoSuchUpload", message: "The specified upload does not exist.") }

    static func operation(method: HTTPRequest.Method, names: Set<String>, key: String) -> String {
        switch method {
        case .put: return names.contains("uploadid") ? "UploadPart" : "PutObject"
        case .post:
            return names.contains("uploads")
                ? "InitiateMultipartUpload" : names.contains("uploadid") ? "CompleteMultipartUpload" : "PostObject"
        case .delete: return names.contains("uploadid") ? "AbortMultipartUpload" : "DeleteObject"
        case .get:
            if key.isEmpty { return names.contains("uploads") ? "ListMultipartUploads" : "ListObjects" }
            return names.contains("uploadid") ? "ListParts" : "GetObject"
        case .head: return "HeadObject"
        default: return "Unsupported"
        }
    }

    /// q-sign verification (§4.2) with the credential's own secret, token and scope.
    func verify(_ request: Request, path: String, query: [(String, String)], key: String, bucket: String) async throws {
        guard let authorization = request.headers[.authorization] else {
            throw Failure(status: .forbidden, code: "AccessDenied", message: "Access Denied. Authorization is required.")
        }
        guard let parsed = COSSignature.parse(authorization: authorization), let window = parsed.window else {
            throw Failure(status: .forbidden, code: "AccessDenied", message: "The Authorization header is malformed.")
        }
        let secretKey: String
        var scope: Set<String>? = nil
        if parsed.secretID == configuration.secretID {
            secretKey = configuration.secretKey
        } else if let credential = await store.credential(parsed.secretID) {
            guard request.headers[HTTPField.Name("x-cos-security-token")!] == credential.token else {
                throw Failure(
                    status: .forbidden, code: "InvalidAccessKeyId",
                    message: "The x-cos-security-token does not match the temporary SecretId.")
            }
            guard Int64(Date().timeIntervalSince1970) < credential.expiresAt else {
                throw Failure(status: .badRequest, code: "ExpiredToken", message: "The provided token has expired.")
            }
            secretKey = credential.secretKey
            scope = Set(credential.keys)
        } else {
            throw Failure(status: .forbidden, code: "InvalidAccessKeyId", message: "The access key Id format you provided is invalid.")
        }
        let now = Int64(Date().timeIntervalSince1970)
        guard now >= window.start - 60, now <= window.end else {
            throw Failure(status: .forbidden, code: "AccessDenied", message: "Request has expired")
        }
        guard parsed.headerList.contains("host") else {
            throw Failure(status: .forbidden, code: "AccessDenied", message: "The host header must be signed.")
        }
        var headers: [(String, String)] = []
        for name in parsed.headerList {
            let value: String?
            if name == "host" { value = request.head.authority } else { value = HTTPField.Name(name).flatMap { request.headers[$0] } }
            guard let value else { throw Failure(status: .forbidden, code: "AccessDenied", message: "Signed header \(name) is missing.") }
            headers.append((name, value))
        }
        var params: [(String, String)] = []
        for name in parsed.parameterList {
            guard let pair = query.first(where: { $0.0.lowercased() == name }) else {
                throw Failure(status: .forbidden, code: "AccessDenied", message: "Signed parameter \(name) is missing.")
            }
            params.append(pair)
        }
        let parts = COSSignature.sign(
            secretKey: secretKey, method: request.method.rawValue, path: path, query: params, headers: headers, keyTime: parsed.keyTime)
        guard constantTimeEquals(parts.signature, parsed.signature) else {
            throw Failure(
                status: .forbidden, code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided.")
        }
        if let scope, !key.isEmpty, !EmulatorStore.Credential.covers(scope, key) {
            throw Failure(
                status: .forbidden, code: "AccessDenied", message: "Access Denied: the temporary credentials do not cover this key.")
        }
    }

    func incoming() -> String { configuration.dataDirectory + "/incoming/" + UUID().uuidString }

    /// Receives a body to a temporary file, checking Content-Length and Content-MD5.
    func receiveChecked(_ request: Request) async throws -> (path: String, size: Int64, md5: [UInt8], crc64: UInt64) {
        guard let lengthText = request.headers[.contentLength], let length = Int64(lengthText) else {
            throw Failure(
                status: .lengthRequired, code: "MissingContentLength", message: "You must provide the Content-Length HTTP header.")
        }
        if configuration.connectionResetRate > 0, Double.random(in: 0..<1) < configuration.connectionResetRate {
            bodyRead.mark()
            try await reset(after: length / 2, of: request.body)
        }
        let path = incoming()
        bodyRead.mark()
        let (size, md5, crc) = try await receive(request.body, to: path, crc: true)
        await store.received(size)
        guard size == length else {
            try? FileManager.default.removeItem(atPath: path)
            throw Failure(
                status: .badRequest, code: "IncompleteBody", message: "The body has \(size) bytes, Content-Length said \(length).")
        }
        if let given = request.headers[HTTPField.Name("Content-MD5")!] {
            guard let digest = Data(base64Encoded: given), digest.count == 16 else {
                try? FileManager.default.removeItem(atPath: path)
                throw Failure(status: .badRequest, code: "InvalidDigest", message: "The Content-MD5 you specified is not valid.")
            }
            guard Array(digest) == md5 else {
                try? FileManager.default.removeItem(atPath: path)
                throw Failure(
                    status: .badRequest, code: "BadDigest", message: "The Content-MD5 you specified did not match what was received.")
            }
        }
        return (path, size, md5, crc!)
    }

    func putObject(_ request: Request, bucket: String, key: String, requestID: String) async throws -> Response {
        let (temp, size, md5, crc) = try await receiveChecked(request)
        guard size <= 5 << 30 else {
            throw Failure(
                status: .badRequest, code: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed object size.")
        }
        let final = configuration.dataDirectory + "/objects/" + UUID().uuidString
        try FileManager.default.moveItem(atPath: temp, toPath: final)
        let etag = "\"\(Hex.encode(md5))\""
        try await store.store(bucket: bucket, key: key, path: final, size: size, md5: Hex.encode(md5), etag: etag)
        return Response(status: .ok, headers: [.eTag: etag, Self.crcHeader: String(crc), HTTPField.Name("x-cos-request-id")!: requestID])
    }

    func uploadPart(_ request: Request, uploadID: String, number: Int, requestID: String) async throws -> Response {
        guard await store.upload(uploadID) != nil else { throw noSuchUpload }
        guard (1...10_000).contains(number) else {
            throw Failure(status: .badRequest, code: "InvalidArgument", message: "partNumber must be 1 to 10000.")
        }
        let (temp, size, md5, crc) = try await receiveChecked(request)
        let final = configuration.dataDirectory + "/parts/" + UUID().uuidString
        try FileManager.default.moveItem(atPath: temp, toPath: final)
        guard try await store.storePart(uploadID, number: number, path: final, size: size, md5: Hex.encode(md5), crc64: String(crc)) else {
            try? FileManager.default.removeItem(atPath: final)
            throw noSuchUpload
        }
        return Response(
            status: .ok,
            headers: [.eTag: "\"\(Hex.encode(md5))\"", Self.crcHeader: String(crc), HTTPField.Name("x-cos-request-id")!: requestID])
    }

    func complete(_ request: Request, bucket: String, key: String, uploadID: String, requestID: String) async throws -> Response {
        bodyRead.mark()
        let body = try await request.body.collect(upTo: 4 << 20)
        guard let upload = await store.upload(uploadID), upload.key == key else { throw noSuchUpload }
        let text = String(buffer: body)
        let listed = XMLText.completedParts(text)
        guard !listed.isEmpty else {
            throw Failure(status: .badRequest, code: "MalformedXML", message: "The XML you provided was not well-formed.")
        }
        for i in 1..<max(1, listed.count) where listed[i].number <= listed[i - 1].number {
            throw Failure(status: .badRequest, code: "InvalidPartOrder", message: "The list of parts was not in ascending order.")
        }
        var files: [EmulatorDatabase.Part] = []
        var digests: [UInt8] = []
        for (index, entry) in listed.enumerated() {
            guard let part = upload.parts[entry.number], "\"\(part.md5)\"" == entry.etag || part.md5 == entry.etag else {
                throw Failure(
                    status: .badRequest, code: "InvalidPart", message: "Part \(entry.number) was not uploaded or its ETag does not match.")
            }
            if index < listed.count - 1, part.size < 1 << 20 {
                throw Failure(
                    status: .badRequest, code: "EntityTooSmall",
                    message: "Part \(entry.number) is smaller than the minimum allowed size (1 MB).")
            }
            files.append(part)
            digests += Self.bytes(hex: part.md5)
        }
        if configuration.completeErrorRate > 0, Double.random(in: 0..<1) < configuration.completeErrorRate {
            await store.countCOSError("InternalError")
            return xml(
                "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again (injected by the emulator).</Message><Resource>\(bucket)/\(escape(key))</Resource><RequestId>\(requestID)</RequestId></Error>",
                requestID: requestID)
        }
        // The object from its parts, which were hashed as they arrived: not read or hashed again.
        let final = configuration.dataDirectory + "/objects/" + UUID().uuidString
        let size = try join(files, into: final)
        let crc = combinedCRC(files)
        _ = try await store.finish(uploadID)
        let etag = "\"\(Hex.encode(Insecure.MD5.hash(data: digests)))-\(listed.count)\""
        try await store.store(bucket: bucket, key: key, path: final, size: size, md5: "", etag: etag, crc64: crc.map { String($0) })
        return xml(
            "<CompleteMultipartUploadResult><Location>\(bucket).cos.\(configuration.storageRegion).myqcloud.com/\(escape(key))</Location><Bucket>\(bucket)</Bucket><Key>\(escape(key))</Key><ETag>\(escape(etag))</ETag></CompleteMultipartUploadResult>",
            requestID: requestID, crc64: crc)
    }

    /// ListParts, paged like COS: parts after `part-number-marker`, at most `max-parts` (1000) a page.
    func listParts(uploadID: String, bucket: String, key: String, marker: Int, maxParts: Int, requestID: String) async throws -> Response {
        guard let upload = await store.upload(uploadID), upload.key == key else { throw noSuchUpload }
        var xmlText =
            "<ListPartsResult><Bucket>\(bucket)</Bucket><EncodingType>url</EncodingType><Key>\(escape(key))</Key><UploadId>\(uploadID)</UploadId><PartNumberMarker>\(marker)</PartNumberMarker>"
        let numbers = upload.parts.keys.sorted().filter { $0 > marker }
        let page = numbers.prefix(maxParts)
        for number in page {
            let part = upload.parts[number]!
            xmlText += "<Part><PartNumber>\(number)</PartNumber><ETag>&quot;\(part.md5)&quot;</ETag><Size>\(part.size)</Size></Part>"
        }
        xmlText +=
            "<NextPartNumberMarker>\(page.last ?? marker)</NextPartNumberMarker><StorageClass>STANDARD</StorageClass><MaxParts>\(maxParts)</MaxParts><IsTruncated>\(numbers.count > maxParts)</IsTruncated></ListPartsResult>"
        return xml(xmlText, requestID: requestID)
    }

    func listUploads(bucket: String, prefix: String, requestID: String) async -> Response {
        var xmlText =
            "<ListMultipartUploadsResult><Bucket>\(bucket)</Bucket><EncodingType>url</EncodingType><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker><Prefix>\(escape(prefix))</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>"
        for (id, upload) in await store.uploads(bucket: bucket, prefix: prefix) {
            xmlText +=
                "<Upload><Key>\(COSSignature.encodePath(upload.key))</Key><UploadId>\(id)</UploadId><StorageClass>STANDARD</StorageClass><Initiated>\(EmulatorStore.iso8601(upload.initiated))</Initiated></Upload>"
        }
        return xml(xmlText + "</ListMultipartUploadsResult>", requestID: requestID)
    }

    func getObject(bucket: String, key: String, head: Bool, requestID: String) async throws -> Response {
        guard let object = await store.object(bucket: bucket, key: key) else {
            throw Failure(status: .notFound, code: "NoSuchKey", message: "The specified key does not exist.")
        }
        let headers: HTTPFields = [.eTag: object.etag, .contentLength: String(object.size), HTTPField.Name("x-cos-request-id")!: requestID]
        if head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: fileBody(object.path, size: Int(object.size)))
    }

    /// `x-cos-hash-crc64ecma`: the CRC-64/ECMA of what was written (COS sends it on PUT Object,
    /// Upload Part and Complete Multipart Upload).
    static let crcHeader = HTTPField.Name("x-cos-hash-crc64ecma")!

    func xml(_ body: String, status: HTTPResponse.Status = .ok, requestID: String, crc64: UInt64? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/xml", HTTPField.Name("x-cos-request-id")!: requestID]
        if let crc64 { headers[Self.crcHeader] = String(crc64) }
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + body)))
    }

    func escape(_ s: String) -> String { XMLText.escape(s) }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            func v(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
            out.append(v(a) << 4 | v(b))
        }
        return out
    }
}
