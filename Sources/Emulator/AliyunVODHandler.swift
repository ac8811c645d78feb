import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import IngestCore
import NIOCore
import VendorSigning

/// Alibaba Cloud VOD RPC API 2017-03-21 (protocol notes §2, §3): parameters from the query and a
/// form body, signature V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) verification with the nonce and
/// ±15 min checks, the JSON envelope and the documented error codes with their HTTP statuses.
struct AliyunVODHandler {
    let store: EmulatorStore
    let configuration: EmulatorConfiguration

    /// VOD's "supported formats" (protocol notes §4.1).
    static let videoExtensions: Set<String> = [
        "3gp", "asf", "avi", "dat", "dv", "flv", "f4v", "gif", "m2t", "m3u8", "m4v", "mj2", "mjpeg", "mkv", "mov", "mp4", "mpe",
        "mpg", "mpeg", "mts", "ogg", "qt", "rm", "rmvb", "swf", "ts", "vob", "wmv", "webm",
        "aac", "ac3", "acm", "amr", "ape", "caf", "flac", "m4a", "mp3", "ra", "wav", "wma", "aiff",
    ]
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "gif", "heic", "webp"]
    static let maximumSkew: Int64 = 900

    struct Failure: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String

        static func missing(_ name: String) -> Failure {
            Failure(
                status: .badRequest, code: "MissingParameter",
                message: "The input parameter \"\(name)\" that is mandatory for processing this request is not supplied.")
        }
        static func invalid(_ name: String, _ why: String = "") -> Failure {
            Failure(
                status: .badRequest, code: "InvalidParameter",
                message: "The specified parameter \"\(name)\" is not valid.\(why.isEmpty ? "" : " " + why)")
        }
    }

    func handle(_ request: Request, query: [(String, String)]) async throws -> Response {
        let requestID = UUID().uuidString.uppercased()
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        var parameters = query
        if request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            parameters += RFC3986.splitTarget("/?" + String(decoding: body, as: UTF8.self)).query
        }
        let acs3 = request.headers[.authorization]?.hasPrefix(ACS3Signature.algorithm) == true
        let action = acs3 ? (request.headers[HTTPField.Name("x-acs-action")!] ?? "") : (parameters.last { $0.0 == "Action" }?.1 ?? "")
        await store.countAPI(action)
        do {
            let now = Int64(Date().timeIntervalSince1970)
            if acs3 {
                try await verifyV3(request, query: query, body: body, now: now)
            } else {
                try await verifyV1(request, parameters: parameters, now: now)
            }
            guard await store.admit(action, now: now) else {
                throw Failure(status: .serviceUnavailable, code: "Throttling.User", message: "Request was denied due to user flow control.")
            }
            if configuration.apiInternalErrorRate > 0, Double.random(in: 0..<1) < configuration.apiInternalErrorRate {
                throw Failure(
                    status: .internalServerError, code: "InternalError",
                    message: "The request processing has failed due to some unknown error (injected by the emulator).")
            }
            var p: [String: String] = [:]
            for (name, value) in parameters { p[name] = value }
            var output: [String: Any]
            switch action {
            case "CreateUploadVideo": output = try await createUploadVideo(p, now: now)
            case "RefreshUploadVideo": output = try await refreshUploadVideo(p, now: now)
            case "CreateUploadImage": output = try await createUploadImage(p, now: now)
            case "GetVideoInfo": output = try await getVideoInfo(p)
            case "GetVideoInfos": output = try await getVideoInfos(p)
            case "GetMezzanineInfo": output = try await getMezzanineInfo(p)
            case "DeleteVideo": output = try await deleteVideo(p)
            case "UpdateVideoInfo": output = try await updateVideoInfo(p, now: now)
            default:
                throw Failure(
                    status: .notFound, code: "InvalidAction.NotFound",
                    message: "Specified api is not found, please check your url and method.")
            }
            output["RequestId"] = requestID
            return Self.json(output, status: .ok)
        } catch let failure as Failure {
            await store.countAPIError(failure.code)
            return Self.json(
                [
                    "RequestId": requestID, "HostId": "vod.\(configuration.aliyunRegion).aliyuncs.com", "Code": failure.code,
                    "Message": failure.message,
                ],
                status: failure.status)
        }
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Signatures

    /// The secret of an AccessKey id: the account's, or an STS one the emulator issued (with its token).
    func secret(for accessKeyID: String, token: String?, now: Int64) async throws -> String {
        if accessKeyID == configuration.aliyunAccessKeyID { return configuration.aliyunAccessKeySecret }
        if let credential = await store.credential(accessKeyID), credential.bucket == configuration.aliyunBucket {
            // Upload credentials are for OSS, not for the VOD API.
            throw Failure(status: .forbidden, code: "Forbidden.RAM", message: "User not authorized to operate on the specified resource.")
        }
        throw Failure(status: .notFound, code: "InvalidAccessKeyId.NotFound", message: "Specified access key is not found.")
    }

    func checkTime(_ text: String?, nonce: String?, now: Int64) async throws {
        guard let text else { throw Failure.missing("Timestamp") }
        guard let date = ISO8601Timestamp.parse(text) else {
            throw Failure(
                status: .badRequest, code: "InvalidTimeStamp.Format", message: "Specified time stamp or date value is not well formatted.")
        }
        if abs(Int64(date.timeIntervalSince1970) - now) > Self.maximumSkew {
            throw Failure(status: .badRequest, code: "InvalidTimeStamp.Expired", message: "Specified time stamp or date value is expired.")
        }
        guard let nonce, !nonce.isEmpty else { throw Failure.missing("SignatureNonce") }
        guard await store.useNonce(nonce, now: now) else {
            throw Failure(status: .badRequest, code: "SignatureNonceUsed", message: "Specified signature nonce was used already.")
        }
    }

    /// Signature V1 over every parameter that arrived, empty ones included (§3.2).
    func verifyV1(_ request: Request, parameters: [(String, String)], now: Int64) async throws {
        func value(_ name: String) -> String? { parameters.last { $0.0 == name }?.1 }
        guard let signature = value("Signature") else { throw Failure.missing("Signature") }
        guard let accessKeyID = value("AccessKeyId") else { throw Failure.missing("AccessKeyId") }
        guard value("SignatureMethod") == "HMAC-SHA1", value("SignatureVersion") == "1.0" else {
            throw Failure(
                status: .badRequest, code: "IncompleteSignature", message: "The request signature does not conform to Aliyun standards.")
        }
        guard value("Version") == "2017-03-21" else {
            throw Failure(status: .badRequest, code: "InvalidVersion", message: "Specified parameter Version is not valid.")
        }
        let secret = try await secret(for: accessKeyID, token: value("SecurityToken"), now: now)
        let stringToSign = AliyunRPCSignature.stringToSign(method: request.method.rawValue, parameters: parameters)
        guard constantTimeEquals(AliyunRPCSignature.signature(secret: secret, stringToSign: stringToSign), signature) else {
            throw Failure(
                status: .badRequest, code: "SignatureDoesNotMatch",
                message: "Specified signature is not matched with our calculation. server string to sign is:\(stringToSign)")
        }
        try await checkTime(value("Timestamp"), nonce: value("SignatureNonce"), now: now)
    }

    /// Signature V3 over the headers the Authorization header lists (§3.3).
    func verifyV3(_ request: Request, query: [(String, String)], body: [UInt8], now: Int64) async throws {
        guard let parsed = ACS3Signature.parse(authorization: request.headers[.authorization] ?? "") else {
            throw Failure(
                status: .badRequest, code: "IncompleteSignature", message: "The request signature does not conform to Aliyun standards.")
        }
        func header(_ name: String) -> String? {
            name == "host" ? request.head.authority : HTTPField.Name(name).flatMap { request.headers[$0] }
        }
        guard header("x-acs-version") == "2017-03-21" else {
            throw Failure(status: .badRequest, code: "InvalidVersion", message: "Specified parameter Version is not valid.")
        }
        guard header("x-acs-content-sha256") == Hex.sha256(body) else {
            throw Failure(status: .badRequest, code: "SignatureDoesNotMatch", message: "The x-acs-content-sha256 does not match the body.")
        }
        for required in ["host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce"] where !parsed.signedHeaders.contains(required) {
            throw Failure(status: .badRequest, code: "IncompleteSignature", message: "SignedHeaders must include \(required).")
        }
        let secret = try await secret(for: parsed.accessKeyID, token: header("x-acs-security-token"), now: now)
        var headers: [(String, String)] = []
        for name in parsed.signedHeaders {
            guard let value = header(name) else {
                throw Failure(status: .badRequest, code: "IncompleteSignature", message: "Signed header \(name) is missing.")
            }
            headers.append((name, value))
        }
        let canonical = ACS3Signature.canonicalRequest(
            method: request.method.rawValue, path: "/", query: query, headers: headers, payloadHash: Hex.sha256(body))
        let stringToSign = ACS3Signature.stringToSign(canonicalRequest: canonical)
        guard constantTimeEquals(ACS3Signature.signature(secret: secret, stringToSign: stringToSign), parsed.signature) else {
            throw Failure(
                status: .badRequest, code: "SignatureDoesNotMatch",
                message: "Specified signature is not matched with our calculation. server string to sign is:\(stringToSign)")
        }
        try await checkTime(header("x-acs-date"), nonce: header("x-acs-signature-nonce"), now: now)
    }

    // MARK: Actions

    static func base64JSON(_ object: [String: Any]) -> String {
        ((try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data())
            .base64EncodedString()
    }

    func address(key: String) async -> String {
        var address: [String: Any] = ["Endpoint": await store.baseURL, "Bucket": configuration.aliyunBucket, "FileName": key]
        if let prefix = EmulatorStore.objectPrefix(of: key) { address["ObjectPrefix"] = prefix }
        return Self.base64JSON(address)
    }

    func auth(_ credential: EmulatorStore.Credential) -> String {
        Self.base64JSON([
            "AccessKeyId": credential.secretID, "AccessKeySecret": credential.secretKey, "SecurityToken": credential.token,
            "ExpireUTCTime": ISO8601Timestamp.format(credential.expiresAt), "Expiration": String(configuration.credentialLifetime),
            "Region": configuration.aliyunRegion,
        ])
    }

    static func randomID() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// Title, Description, Tags, CateId and UserData rules shared by videos and images (§2.2, §4.2).
    func checkMetadata(_ p: [String: String]) throws {
        func astral(_ s: String) -> Bool { s.unicodeScalars.contains { $0.value > 0xFFFF } }
        for name in ["Title", "Description", "Tags"] {
            if let value = p[name], astral(value) {
                throw Failure(status: .badRequest, code: "IllegalCharacters", message: "The specified \(name) contains illegal characters.")
            }
        }
        if let title = p["Title"], title.count > 128 {
            throw Failure(status: .badRequest, code: "LengthExceededMax", message: "The specified Title length has exceeded 128 bytes.")
        }
        if let description = p["Description"], description.count > 1024 {
            throw Failure(
                status: .badRequest, code: "LengthExceededMax", message: "The specified Description length has exceeded 1024 bytes.")
        }
        if let tags = p["Tags"], !tags.isEmpty {
            let list = tags.split(separator: ",", omittingEmptySubsequences: false)
            guard list.count <= 16 else {
                throw Failure(status: .badRequest, code: "TagsExceededMax", message: "The specified Tags count has exceeded 16.")
            }
            if list.contains(where: { $0.count > 32 }) {
                throw Failure(status: .badRequest, code: "LengthExceededMax", message: "The specified Tag length has exceeded 32 bytes.")
            }
        }
        if let cate = p["CateId"], Int64(cate) == nil { throw Failure.invalid("CateId") }
        if let userData = p["UserData"] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(userData.utf8)) as? [String: Any] else {
                throw Failure.invalid("UserData", "It must be a JSON object.")
            }
            if let extend = object["Extend"] {
                let text =
                    (extend as? String) ?? String(decoding: (try? JSONSerialization.data(withJSONObject: extend)) ?? Data(), as: UTF8.self)
                if text.utf8.count > 512 { throw Failure.invalid("UserData", "Extend is longer than 512 bytes.") }
            }
        }
    }

    func createUploadVideo(_ p: [String: String], now: Int64) async throws -> [String: Any] {
        guard let title = p["Title"], !title.isEmpty else { throw Failure.missing("Title") }
        guard let fileName = p["FileName"], !fileName.isEmpty else { throw Failure.missing("FileName") }
        let ext = (fileName as NSString).pathExtension.lowercased()
        guard Self.videoExtensions.contains(ext) else {
            throw Failure(status: .badRequest, code: "InvalidFileName.Extension", message: "The specified FileName's extension is illegal.")
        }
        try checkMetadata(p)
        if let size = p["FileSize"], Int64(size) == nil { throw Failure.invalid("FileSize") }
        if let storage = p["StorageLocation"], !storage.isEmpty, storage != configuration.aliyunStorageLocation {
            throw Failure(
                status: .notFound, code: "InvalidStorage.NotFound", message: "The specified storage location \(storage) does not exist.")
        }
        if let reference = p["ReferenceId"] {
            guard ReferenceID.isValid(reference) else {
                throw Failure.invalid("ReferenceId", "It must be 6 to 64 letters, digits, '-' or '_'.")
            }
        }
        let id = Self.randomID()
        let video = EmulatorDatabase.Video(
            videoID: id, title: title, fileName: fileName, fileSize: p["FileSize"].flatMap { Int64($0) },
            videoDescription: p["Description"],
            coverURL: p["CoverURL"], cateID: p["CateId"].flatMap { Int64($0) }, tags: p["Tags"], templateGroupID: p["TemplateGroupId"],
            workflowID: p["WorkflowId"], storageLocation: configuration.aliyunStorageLocation, appID: p["AppId"] ?? "app-1000000",
            userData: p["UserData"], referenceID: p["ReferenceId"], bucket: configuration.aliyunBucket,
            objectKey: "sv/\(id.prefix(8))-\(id.suffix(6))/\(id).\(ext)",
            status: "Uploading", createdAt: now, modifiedAt: now)
        switch try await store.createVideo(video, now: now) {
        case .created(let video, let credential):
            return ["VideoId": video.videoID, "UploadAddress": await address(key: video.objectKey), "UploadAuth": auth(credential)]
        case .referenceExists(let existing):
            // [EMU] The platform keeps ReferenceId unique per user; its code for a repeat is not documented.
            throw Failure(
                status: .badRequest, code: "InvalidParameter.ReferenceId", message: "The ReferenceId already belongs to video \(existing).")
        }
    }

    func refreshUploadVideo(_ p: [String: String], now: Int64) async throws -> [String: Any] {
        let id: String
        if let given = p["VideoId"], !given.isEmpty {
            id = given
        } else if let reference = p["ReferenceId"], let video = await store.video(reference: reference) {
            id = video.videoID
        } else {
            throw Failure.missing("VideoId")
        }
        guard let (video, credential) = try await store.refresh(videoID: id, now: now) else {
            throw Failure(status: .notFound, code: "InvalidVideo.NotFound", message: "The video not exist.")
        }
        return ["VideoId": video.videoID, "UploadAddress": await address(key: video.objectKey), "UploadAuth": auth(credential)]
    }

    func createUploadImage(_ p: [String: String], now: Int64) async throws -> [String: Any] {
        guard let type = p["ImageType"], !type.isEmpty else { throw Failure.missing("ImageType") }
        guard type == "default" || type == "cover" else { throw Failure.invalid("ImageType") }
        let ext = (p["ImageExt"] ?? "png").lowercased()
        guard Self.imageExtensions.contains(ext) else { throw Failure.invalid("ImageExt") }
        try checkMetadata(p)
        let id = Self.randomID()
        let image = EmulatorDatabase.Image(
            imageID: id, imageType: type, ext: ext, title: p["Title"], bucket: configuration.aliyunBucket,
            objectKey: "image/\(type)/\(id).\(ext)",
            createdAt: now)
        let credential = try await store.createImage(image, now: now)
        let base = await store.baseURL
        return [
            "ImageId": id, "ImageURL": base + "/vod/\(id)/image.\(ext)", "FileURL": base + "/vod/\(id)/image.\(ext)",
            "UploadAddress": await address(key: image.objectKey), "UploadAuth": auth(credential),
        ]
    }

    /// The `Video` object of GetVideoInfo (§2.6).
    func videoObject(_ v: EmulatorDatabase.Video) -> [String: Any] {
        var object: [String: Any] = [
            "VideoId": v.videoID, "Title": v.title, "Status": v.status, "CreationTime": ISO8601Timestamp.format(v.createdAt),
            "ModificationTime": ISO8601Timestamp.format(v.modifiedAt), "StorageLocation": v.storageLocation,
            "RegionId": configuration.aliyunRegion, "AppId": v.appID, "AuditStatus": "Normal", "DownloadSwitch": "on",
            "StorageClass": "Standard",
        ]
        object["Description"] = v.videoDescription
        object["CoverURL"] = v.coverURL
        object["CateId"] = v.cateID
        object["Tags"] = v.tags
        object["TemplateGroupId"] = v.templateGroupID
        object["UserData"] = v.userData
        object["ReferenceId"] = v.referenceID
        object["Size"] = v.size ?? v.fileSize
        return object
    }

    func getVideoInfo(_ p: [String: String]) async throws -> [String: Any] {
        let video: EmulatorDatabase.Video?
        if let id = p["VideoId"], !id.isEmpty {
            video = await store.video(id: id)
        } else if let reference = p["ReferenceId"], !reference.isEmpty {
            video = await store.video(reference: reference)
        } else {
            throw Failure.missing("VideoId")
        }
        guard let video else { throw Failure(status: .notFound, code: "InvalidVideo.NotFound", message: "The video not exist.") }
        return ["Video": videoObject(video)]
    }

    func getVideoInfos(_ p: [String: String]) async throws -> [String: Any] {
        let ids = (p["VideoIds"] ?? "").split(separator: ",").map(String.init)
        let references = (p["ReferenceIds"] ?? "").split(separator: ",").map(String.init)
        guard !ids.isEmpty || !references.isEmpty else { throw Failure.missing("VideoIds") }
        guard ids.count <= 20, references.count <= 20 else {
            throw Failure.invalid(ids.count > 20 ? "VideoIds" : "ReferenceIds", "At most 20.")
        }
        var list: [[String: Any]] = []
        var missing: [String] = []
        var missingReferences: [String] = []
        for id in ids {
            if let video = await store.video(id: id) { list.append(videoObject(video)) } else { missing.append(id) }
        }
        for reference in references {
            if let video = await store.video(reference: reference) {
                list.append(videoObject(video))
            } else {
                missingReferences.append(reference)
            }
        }
        return ["VideoList": list, "NonExistVideoIds": missing, "NonExistReferenceIds": missingReferences]
    }

    func getMezzanineInfo(_ p: [String: String]) async throws -> [String: Any] {
        guard let id = p["VideoId"], !id.isEmpty else { throw Failure.missing("VideoId") }
        guard let video = await store.video(id: id) else {
            throw Failure(status: .notFound, code: "InvalidVideo.NotFound", message: "The video not exist.")
        }
        let ext = (video.objectKey as NSString).pathExtension
        var mezzanine: [String: Any] = [
            "VideoId": video.videoID, "FileName": video.fileName, "Status": video.objectFile == nil ? "Uploading" : "Normal",
            "CreationTime": ISO8601Timestamp.format(video.createdAt), "OutputType": "oss", "StorageClass": "Standard",
        ]
        if video.objectFile != nil {
            mezzanine["FileURL"] = await store.baseURL + "/vod/\(video.videoID)/source.\(ext)"
            mezzanine["Size"] = video.size
            // Known for a single PUT; a multipart source's is worked out when a catalogue call first
            // shows it (the upload flow polls this call, which does not make the emulator hash it).
            if let md5 = video.md5, !md5.isEmpty { mezzanine["FileMD5"] = md5 }
            mezzanine["CRC64"] = video.crc64
        }
        return ["Mezzanine": mezzanine]
    }

    /// UpdateVideoInfo: Title, Description, CoverURL, CateId, Tags and UserData, under the same rules
    /// as CreateUploadVideo; only the fields given change. Idempotent.
    func updateVideoInfo(_ p: [String: String], now: Int64) async throws -> [String: Any] {
        guard let id = p["VideoId"], !id.isEmpty else { throw Failure.missing("VideoId") }
        if let title = p["Title"], title.isEmpty { throw Failure.invalid("Title") }
        try checkMetadata(p)
        if let cate = p["CateId"], Int64(cate) == nil { throw Failure.invalid("CateId") }
        let changed = try await store.updateVideo(id: id, now: now) { video in
            if let title = p["Title"] { video.title = title }
            if let description = p["Description"] { video.videoDescription = description }
            if let cover = p["CoverURL"] { video.coverURL = cover }
            if let cate = p["CateId"] { video.cateID = Int64(cate) }
            if let tags = p["Tags"] { video.tags = tags }
            if let userData = p["UserData"] { video.userData = userData }
        }
        guard changed else { throw Failure(status: .notFound, code: "InvalidVideo.NotFound", message: "The video not exist.") }
        return [:]
    }

    func deleteVideo(_ p: [String: String]) async throws -> [String: Any] {
        let ids = (p["VideoIds"] ?? "").split(separator: ",").map(String.init)
        guard !ids.isEmpty else { throw Failure.missing("VideoIds") }
        guard ids.count <= 20 else { throw Failure.invalid("VideoIds", "At most 20.") }
        let missing = try await store.deleteVideos(ids)
        return ["NonExistVideoIds": missing, "ForbiddenVideoIds": [String]()]
    }
}
