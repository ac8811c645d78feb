import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import IngestCore
import NIOCore
import VendorSigning

/// OSS (protocol notes §5): path-style (`/<bucket>/<key>`) and virtual-host
/// (`<bucket>.oss-<region>.aliyuncs.com`) requests, signature V1 or V4 against the STS credentials the
/// VOD dialect issued (token, expiry and key scope checked), PutObject and multipart upload with
/// the ETag and `x-oss-hash-crc64ecma` headers, OSS XML errors. A finished write hands the object
/// to its video or image.
struct OSSHandler {
    let store: EmulatorStore
    let configuration: EmulatorConfiguration
    let channel: (any Channel)?
    let cos: COSHandler

    init(store: EmulatorStore, configuration: EmulatorConfiguration, channel: (any Channel)?) {
        self.store = store
        self.configuration = configuration
        self.channel = channel
        self.cos = COSHandler(store: store, configuration: configuration, channel: channel)
    }

    typealias Failure = COSHandler.Failure
    static let minimumPartSize: Int64 = 100 * 1024

    /// `<bucket>.oss-<region>[-internal].aliyuncs.com[:port]`: the bucket.
    static func virtualHostBucket(_ authority: String) -> String? {
        let host = authority.split(separator: ":").first.map(String.init) ?? authority
        guard host.hasSuffix(".aliyuncs.com") else { return nil }
        let labels = host.split(separator: ".")
        guard labels.count == 4, labels[1].hasPrefix("oss-") else { return nil }
        return String(labels[0])
    }

    func handle(_ request: Request, bucket: String, key: String, query: [(String, String)]) async throws -> Response {
        let requestID = EmulatorConfiguration.randomKey(prefix: "", length: 24).uppercased()
        let names = Set(query.map { $0.0.lowercased() })
        let operation = COSHandler.operation(method: request.method, names: names, key: key)
        await store.countCOS("oss." + operation)
        do {
            guard bucket == configuration.aliyunBucket else {
                throw Failure(status: .notFound, code: "NoSuchBucket", message: "The specified bucket does not exist.")
            }
            try await verify(request, bucket: bucket, key: key, query: query)
            if configuration.cosSlowDownRate > 0, Double.random(in: 0..<1) < configuration.cosSlowDownRate {
                throw Failure(
                    status: .serviceUnavailable, code: "ServiceUnavailable",
                    message: "Please reduce your request rate (injected by the emulator).")
            }
            let value = { (name: String) in query.first { $0.0.lowercased() == name }?.1 }
            switch operation {
            case "PutObject": return try await putObject(request, bucket: bucket, key: key, requestID: requestID)
            case "UploadPart":
                return try await uploadPart(
                    request, uploadID: value("uploadid") ?? "", number: Int(value("partnumber") ?? "") ?? 0, requestID: requestID)
            case "InitiateMultipartUpload":
                let id = try await store.initiate(bucket: bucket, key: key).uppercased()
                return xml(
                    "<InitiateMultipartUploadResult><Bucket>\(bucket)</Bucket><Key>\(escape(key))</Key><UploadId>\(id)</UploadId></InitiateMultipartUploadResult>",
                    requestID: requestID)
            case "CompleteMultipartUpload":
                return try await complete(request, bucket: bucket, key: key, uploadID: value("uploadid") ?? "", requestID: requestID)
            case "AbortMultipartUpload":
                guard try await store.finish(uploadID(value("uploadid"))) != nil else { throw noSuchUpload }
                return Response(status: .noContent, headers: [HTTPField.Name("x-oss-request-id")!: requestID])
            case "ListParts":
                return try await listParts(
                    uploadID: value("uploadid") ?? "", bucket: bucket, key: key, marker: Int(value("part-number-marker") ?? "") ?? 0,
                    maxParts: min(1000, max(1, Int(value("max-parts") ?? "") ?? 1000)), requestID: requestID)
            case "HeadObject", "GetObject":
                guard let object = await store.object(bucket: bucket, key: key) else {
                    throw Failure(status: .notFound, code: "NoSuchKey", message: "The specified key does not exist.")
                }
                var headers: HTTPFields = [
                    .eTag: object.etag, .contentLength: String(object.size), HTTPField.Name("x-oss-request-id")!: requestID,
                ]
                if let crc = object.crc64 { headers[HTTPField.Name("x-oss-hash-crc64ecma")!] = crc }
                if operation == "HeadObject" { return Response(status: .ok, headers: headers) }
                return Response(status: .ok, headers: headers, body: fileBody(object.path, size: Int(object.size)))
            default:
                throw Failure(
                    status: .methodNotAllowed, code: "MethodNotAllowed",
                    message: "The specified method is not allowed against this resource.")
            }
        } catch let failure as Failure {
            await store.countCOSError("oss." + failure.code)
            if request.method == .put || request.method == .post, !cos.bodyRead.isSet { await cos.drain(request.body) }
            if request.method == .head {
                return Response(status: failure.status, headers: [HTTPField.Name("x-oss-request-id")!: requestID])
            }
            return xml(
                "<Error><Code>\(failure.code)</Code><Message>\(escape(failure.message))</Message><RequestId>\(requestID)</RequestId><HostId>\(bucket).oss-\(configuration.aliyunRegion).aliyuncs.com</HostId></Error>",
                status: failure.status, requestID: requestID)
        }
    }

    /// The store keeps upload ids as issued; OSS prints them upper-case.
    func uploadID(_ given: String?) -> String { (given ?? "").lowercased() }

    var noSuchUpload: Failure {
        Failure(
            status: .notFound, code: "NoSuchUpload",
            message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
    }

    /// Signature V1 (§5.2) with the STS token, its expiry and its one key checked.
    func verify(_ request: Request, bucket: String, key: String, query: [(String, String)]) async throws {
        guard let authorization = request.headers[.authorization] else {
            throw Failure(
                status: .forbidden, code: "AccessDenied", message: "You have no right to access this object because of bucket acl.")
        }
        let v4 = OSSV4Signature.parse(authorization: authorization)
        guard let (accessKeyID, signature) = v4.map({ ($0.accessKeyID, $0.signature) }) ?? OSSSignature.parse(authorization: authorization)
        else {
            throw Failure(status: .badRequest, code: "InvalidArgument", message: "Authorization header is invalid.")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let secret: String
        var scope: Set<String>? = nil
        if accessKeyID == configuration.aliyunAccessKeyID {
            secret = configuration.aliyunAccessKeySecret
        } else if let credential = await store.credential(accessKeyID), credential.bucket == bucket {
            guard request.headers[HTTPField.Name("x-oss-security-token")!] == credential.token else {
                throw Failure(status: .forbidden, code: "InvalidSecurityToken", message: "The security token you provided is invalid.")
            }
            guard now < credential.expiresAt else {
                throw Failure(status: .forbidden, code: "SecurityTokenExpired", message: "The security token you provided has expired.")
            }
            secret = credential.secretKey
            scope = Set(credential.keys)
        } else {
            throw Failure(
                status: .forbidden, code: "InvalidAccessKeyId", message: "The OSS Access Key Id you provided does not exist in our records."
            )
        }
        let dateText = request.headers[HTTPField.Name("x-oss-date")!] ?? request.headers[HTTPField.Name("Date")!]
        guard let dateText, let date = v4 == nil ? OSSSignature.parseHTTPDate(dateText) : OSSSignature.parseCompactDate(dateText) else {
            throw Failure(
                status: .forbidden, code: "AccessDenied",
                message: "The date header is missing or malformed (V1: an RFC 1123 Date; V4: x-oss-date YYYYMMDDTHHMMSSZ).")
        }
        if abs(Int64(date.timeIntervalSince1970) - now) > AliyunVODHandler.maximumSkew {
            throw Failure(
                status: .forbidden, code: "RequestTimeTooSkewed",
                message: "The difference between the request time and the current time is too large.")
        }
        var headers: [(String, String)] = []
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let expected: String
        if let v4 {
            guard v4.day == String(dateText.prefix(8)) else {
                throw Failure(
                    status: .forbidden, code: "SignatureDoesNotMatch", message: "The credential scope's date is not the x-oss-date's.")
            }
            let canonical = OSSV4Signature.canonicalRequest(
                method: request.method.rawValue, bucket: bucket, key: key, query: query, headers: headers,
                additionalHeaders: v4.additionalHeaders)
            let stringToSign = OSSV4Signature.stringToSign(
                dateTime: dateText, scope: OSSV4Signature.scope(date: v4.day, region: v4.region), canonicalRequest: canonical)
            expected = OSSV4Signature.signature(secret: secret, day: v4.day, region: v4.region, stringToSign: stringToSign)
        } else {
            let stringToSign = OSSSignature.stringToSign(
                method: request.method.rawValue, headers: headers, bucket: bucket, key: key, query: query)
            expected = OSSSignature.signature(secret: secret, stringToSign: stringToSign)
        }
        guard constantTimeEquals(expected, signature) else {
            throw Failure(
                status: .forbidden, code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided.")
        }
        if let scope, !EmulatorStore.Credential.covers(scope, key) {
            throw Failure(
                status: .forbidden, code: "AccessDenied", message: "You have no right to access this object because of the STS policy.")
        }
    }

    /// Receives a body with Content-Length and Content-MD5 checked, hashing MD5 and CRC-64.
    func receiveChecked(_ request: Request) async throws -> (path: String, size: Int64, md5: [UInt8], crc64: UInt64) {
        guard let lengthText = request.headers[.contentLength], let length = Int64(lengthText) else {
            throw Failure(
                status: .lengthRequired, code: "MissingContentLength", message: "You must provide the Content-Length HTTP header.")
        }
        if configuration.connectionResetRate > 0, Double.random(in: 0..<1) < configuration.connectionResetRate {
            cos.bodyRead.mark()
            try await cos.reset(after: length / 2, of: request.body)
        }
        let path = cos.incoming()
        cos.bodyRead.mark()
        let (size, md5, crc) = try await receive(request.body, to: path, crc: true)
        await store.received(size)
        func refuse(_ failure: Failure) -> Failure {
            try? FileManager.default.removeItem(atPath: path)
            return failure
        }
        guard size == length else {
            throw refuse(
                Failure(status: .badRequest, code: "IncompleteBody", message: "The body has \(size) bytes, Content-Length said \(length)."))
        }
        if let given = request.headers[HTTPField.Name("Content-MD5")!] {
            guard let digest = Data(base64Encoded: given), Array(digest) == md5 else {
                throw refuse(Failure(status: .badRequest, code: "InvalidDigest", message: "The Content-MD5 you specified is not valid."))
            }
        }
        return (path, size, md5, crc ?? 0)
    }

    func etag(_ md5: [UInt8]) -> String { "\"" + Hex.encode(md5).uppercased() + "\"" }

    func putObject(_ request: Request, bucket: String, key: String, requestID: String) async throws -> Response {
        let (temp, size, md5, crc) = try await receiveChecked(request)
        guard size <= 5 << 30 else {
            try? FileManager.default.removeItem(atPath: temp)
            throw Failure(
                status: .badRequest, code: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed object size.")
        }
        let final = configuration.dataDirectory + "/objects/" + UUID().uuidString
        try FileManager.default.moveItem(atPath: temp, toPath: final)
        try await store.storeOSS(
            bucket: bucket, key: key, path: final, size: size, md5: Hex.encode(md5), etag: etag(md5), crc64: String(crc),
            now: Int64(Date().timeIntervalSince1970))
        return Response(
            status: .ok,
            headers: [
                .eTag: etag(md5), HTTPField.Name("x-oss-hash-crc64ecma")!: String(crc), HTTPField.Name("x-oss-request-id")!: requestID,
                HTTPField.Name("Content-MD5")!: Data(md5).base64EncodedString(),
            ])
    }

    func uploadPart(_ request: Request, uploadID given: String, number: Int, requestID: String) async throws -> Response {
        let id = uploadID(given)
        guard await store.upload(id) != nil else { throw noSuchUpload }
        guard (1...10_000).contains(number) else {
            throw Failure(
                status: .badRequest, code: "InvalidArgument", message: "Part number must be an integer between 1 and 10000, inclusive.")
        }
        let (temp, size, md5, crc) = try await receiveChecked(request)
        let final = configuration.dataDirectory + "/parts/" + UUID().uuidString
        try FileManager.default.moveItem(atPath: temp, toPath: final)
        guard try await store.storePart(id, number: number, path: final, size: size, md5: Hex.encode(md5), crc64: String(crc)) else {
            try? FileManager.default.removeItem(atPath: final)
            throw noSuchUpload
        }
        return Response(
            status: .ok,
            headers: [
                .eTag: etag(md5), HTTPField.Name("x-oss-hash-crc64ecma")!: String(crc), HTTPField.Name("x-oss-request-id")!: requestID,
            ])
    }

    func complete(_ request: Request, bucket: String, key: String, uploadID given: String, requestID: String) async throws -> Response {
        cos.bodyRead.mark()
        let body = try await request.body.collect(upTo: 4 << 20)
        let id = uploadID(given)
        guard let upload = await store.upload(id), upload.key == key else { throw noSuchUpload }
        let listed = XMLText.completedParts(String(buffer: body))
        guard !listed.isEmpty else {
            throw Failure(
                status: .badRequest, code: "MalformedXML",
                message: "The XML you provided was not well-formed or did not validate against our published schema.")
        }
        for i in 1..<max(1, listed.count) where listed[i].number <= listed[i - 1].number {
            throw Failure(status: .badRequest, code: "InvalidPartOrder", message: "The list of parts was not in ascending order.")
        }
        var files: [EmulatorDatabase.Part] = []
        var digests: [UInt8] = []
        for (index, entry) in listed.enumerated() {
            let given = entry.etag.replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: "&quot;", with: "").lowercased()
            guard let part = upload.parts[entry.number], part.md5 == given else {
                throw Failure(
                    status: .badRequest, code: "InvalidPart",
                    message:
                        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag."
                )
            }
            if index < listed.count - 1, part.size < Self.minimumPartSize {
                throw Failure(
                    status: .badRequest, code: "EntityTooSmall",
                    message: "Your proposed upload is smaller than the minimum allowed size (part \(entry.number)).")
            }
            files.append(part)
            digests += COSHandler.bytes(hex: part.md5)
        }
        if configuration.completeErrorRate > 0, Double.random(in: 0..<1) < configuration.completeErrorRate {
            throw Failure(
                status: .internalServerError, code: "InternalError",
                message: "We encountered an internal error. Please try again (injected by the emulator).")
        }
        let final = configuration.dataDirectory + "/objects/" + UUID().uuidString
        let size = try join(files, into: final)
        let crc = combinedCRC(files)
        _ = try await store.finish(id)
        let etag = "\"" + Hex.encode(Insecure.MD5.hash(data: digests)).uppercased() + "-\(listed.count)\""
        let crcText = String(crc ?? 0)
        try await store.storeOSS(
            bucket: bucket, key: key, path: final, size: size, md5: "", etag: etag, crc64: crcText,
            now: Int64(Date().timeIntervalSince1970))
        return xml(
            "<CompleteMultipartUploadResult><Location>http://\(bucket).oss-\(configuration.aliyunRegion).aliyuncs.com/\(escape(key))</Location><Bucket>\(bucket)</Bucket><Key>\(escape(key))</Key><ETag>\(escape(etag))</ETag></CompleteMultipartUploadResult>",
            requestID: requestID, extra: [HTTPField.Name("x-oss-hash-crc64ecma")!: crcText])
    }

    func listParts(
        uploadID given: String, bucket: String, key: String, marker: Int, maxParts: Int, requestID: String
    ) async throws -> Response {
        let id = uploadID(given)
        guard let upload = await store.upload(id), upload.key == key else { throw noSuchUpload }
        let numbers = upload.parts.keys.sorted().filter { $0 > marker }
        let page = numbers.prefix(maxParts)
        var text =
            "<ListPartsResult><Bucket>\(bucket)</Bucket><Key>\(escape(key))</Key><UploadId>\(id.uppercased())</UploadId><PartNumberMarker>\(marker)</PartNumberMarker><NextPartNumberMarker>\(page.last ?? marker)</NextPartNumberMarker><MaxParts>\(maxParts)</MaxParts><IsTruncated>\(numbers.count > maxParts)</IsTruncated>"
        let modified = ISO8601Timestamp.format(upload.initiated).replacingOccurrences(of: "Z", with: ".000Z")
        for number in page {
            let part = upload.parts[number]!
            text +=
                "<Part><PartNumber>\(number)</PartNumber><LastModified>\(modified)</LastModified><ETag>&quot;\(part.md5.uppercased())&quot;</ETag>"
            if let crc = part.crc64 { text += "<HashCrc64ecma>\(crc)</HashCrc64ecma>" }
            text += "<Size>\(part.size)</Size></Part>"
        }
        return xml(text + "</ListPartsResult>", requestID: requestID)
    }

    func xml(_ body: String, status: HTTPResponse.Status = .ok, requestID: String, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/xml", HTTPField.Name("x-oss-request-id")!: requestID]
        headers.append(contentsOf: extra)
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body)))
    }

    func escape(_ s: String) -> String { XMLText.escape(s) }
}
