import Foundation
import HTTPTypes
import Hummingbird
import IngestCore
import NIOCore
import VendorSigning

/// VOD API 3.0 (protocol notes §2, §3): TC3 verification over any SignedHeaders list, the clock-skew
/// check, envelopes with HTTP 200 and exactly `Content-Type: application/json`.
struct VODHandler {
    let store: EmulatorStore
    let configuration: EmulatorConfiguration

    static let mediaTypes: Set<String> = [
        "wmv", "rm", "mov", "mpeg", "mp4", "3gp", "flv", "avi", "rmvb", "ts", "asf", "mpg", "webm", "mkv", "m3u8", "wm",
        "asx", "ram", "mpe", "vob", "dat", "mp4v", "m4v", "f4v", "mxf", "qt", "ogg", "mp3", "m4a", "flac", "wav", "ra",
        "aac", "amr", "gif", "dv", "m2t", "mj2", "mjpeg", "mts", "swf", "ac3", "acm", "ape", "caf", "wma", "aiff",
    ]
    static let coverTypes: Set<String> = ["jpg", "jpeg", "png", "gif", "bmp", "tiff", "ai", "cdr", "eps", "tif", "heif", "webp"]

    struct Failure: Error {
        let code: String
        let message: String
    }

    func handle(_ request: Request) async throws -> Response {
        let requestID = UUID().uuidString.lowercased()
        let action = request.headers[HTTPField.Name("X-TC-Action")!] ?? ""
        let body = try await request.body.collect(upTo: 1 << 20)
        let bytes = Array(buffer: body)
        await store.countAPI(action)
        do {
            guard request.method == .post else { throw Failure(code: "UnsupportedProtocol", message: "use POST with a JSON body") }
            try verify(request, body: bytes)
            let now = Int64(Date().timeIntervalSince1970)
            guard await store.admit(action, now: now) else {
                throw Failure(
                    code: "RequestLimitExceeded",
                    message:
                        "Your current request times equals to `\(Int(configuration.actionRateLimit))` in a second, which exceeds the frequency limit `\(Int(configuration.actionRateLimit))` for a second. Please reduce the frequency of calls."
                )
            }
            if configuration.apiInternalErrorRate > 0, Double.random(in: 0..<1) < configuration.apiInternalErrorRate {
                throw Failure(
                    code: "InternalError", message: "An internal error has occurred. Retry your request (injected by the emulator).")
            }
            guard let parameters = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                throw Failure(code: "InvalidParameter", message: "the body is not a JSON object")
            }
            var output: [String: Any]
            switch action {
            case "ApplyUpload": output = try await applyUpload(parameters, now: now)
            case "CommitUpload": output = try await commitUpload(parameters, now: now)
            case "DescribeMediaInfos": output = try await describe(parameters)
            case "SearchMedia": output = try await search(parameters)
            case "DeleteMedia": output = try await delete(parameters, now: now)
            case "ModifyMediaInfo": output = try await modify(parameters, now: now)
            case "ParseStreamingManifest": output = try parseStreamingManifest(parameters)
            case "PullEvents": output = try await pullEvents(parameters)
            case "ConfirmEvents": output = try await confirmEvents(parameters, now: now)
            default: throw Failure(code: "InvalidAction", message: "The action `\(action)` is not supported by the emulator.")
            }
            output["RequestId"] = requestID
            return Self.envelope(output)
        } catch let failure as Failure {
            await store.countAPIError(failure.code)
            return Self.envelope(["Error": ["Code": failure.code, "Message": failure.message], "RequestId": requestID])
        }
    }

    static func envelope(_ response: [String: Any]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: ["Response": response], options: [.withoutEscapingSlashes])) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// TC3-HMAC-SHA256 verification (§2.3).
    func verify(_ request: Request, body: [UInt8]) throws {
        guard let authorization = request.headers[.authorization], let timestampText = request.headers[HTTPField.Name("X-TC-Timestamp")!],
            request.headers[HTTPField.Name("X-TC-Version")!] != nil
        else { throw Failure(code: "MissingParameter", message: "Authorization, X-TC-Timestamp and X-TC-Version are required") }
        guard let parsed = TC3Signature.parse(authorization: authorization) else {
            throw Failure(
                code: "AuthFailure.InvalidAuthorization",
                message: "Authorization header is not TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
        }
        guard let timestamp = Int64(timestampText) else {
            throw Failure(code: "InvalidParameter", message: "X-TC-Timestamp is not a number")
        }
        let now = Int64(Date().timeIntervalSince1970)
        if abs(now - timestamp) > configuration.maximumSkew {
            throw Failure(
                code: "AuthFailure.SignatureExpire",
                message: "Signature expired, timestamp and server time cannot differ by more than five minutes.")
        }
        guard parsed.secretID.hasPrefix("AKID") else {
            throw Failure(code: "AuthFailure.InvalidSecretId", message: "Invalid key (check whether it is an API key).")
        }
        guard parsed.secretID == configuration.secretID else {
            throw Failure(code: "AuthFailure.SecretIdNotFound", message: "The SecretId is not found.")
        }
        guard parsed.date == TC3Signature.date(timestamp: timestamp), parsed.service == "vod" else {
            throw Failure(
                code: "AuthFailure.SignatureFailure",
                message: "The credential scope does not match the timestamp's UTC date or the service.")
        }
        guard parsed.signedHeaders.contains("host"), parsed.signedHeaders.contains("content-type") else {
            throw Failure(code: "AuthFailure.SignatureFailure", message: "SignedHeaders must include content-type and host.")
        }
        var headers: [TC3Signature.Header] = []
        for name in parsed.signedHeaders {
            let value: String?
            if name == "host" { value = request.head.authority } else { value = HTTPField.Name(name).flatMap { request.headers[$0] } }
            guard let value else { throw Failure(code: "AuthFailure.SignatureFailure", message: "Signed header \(name) is missing.") }
            headers.append(TC3Signature.Header(name, value))
        }
        let (canonical, _) = TC3Signature.canonicalRequest(method: "POST", headers: headers, payloadHash: Hex.sha256(body))
        let scope = TC3Signature.credentialScope(date: parsed.date, service: "vod")
        let expected = TC3Signature.signature(
            secretKey: configuration.secretKey, date: parsed.date, service: "vod",
            stringToSign: TC3Signature.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical))
        guard constantTimeEquals(expected, parsed.signature) else {
            throw Failure(
                code: "AuthFailure.SignatureFailure",
                message: "The provided credentials could not be validated. Please check your signature is correct.")
        }
    }

    func applyUpload(_ p: [String: Any], now: Int64) async throws -> [String: Any] {
        guard let mediaType = (p["MediaType"] as? String)?.lowercased(), !mediaType.isEmpty else {
            throw Failure(code: "MissingParameter", message: "The request is missing a required parameter `MediaType`.")
        }
        guard Self.mediaTypes.contains(mediaType) else {
            throw Failure(code: "InvalidParameterValue.MediaType", message: "MediaType \(mediaType) is not supported.")
        }
        let coverType = (p["CoverType"] as? String)?.lowercased()
        if let coverType, !Self.coverTypes.contains(coverType) {
            throw Failure(code: "InvalidParameterValue.CoverType", message: "CoverType \(coverType) is not supported.")
        }
        let sourceContext = p["SourceContext"] as? String
        if let sourceContext, sourceContext.count > 250 {
            throw Failure(code: "InvalidParameterValue.SourceContext", message: "SourceContext is longer than 250 characters.")
        }
        if let session = p["SessionContext"] as? String, session.count > 1000 {
            throw Failure(code: "InvalidParameterValue.SessionContextTooLong", message: "SessionContext is longer than 1000 characters.")
        }
        if let expire = p["ExpireTime"] as? String, ISO8601Timestamp.parse(expire) == nil {
            throw Failure(code: "InvalidParameterValue.ExpireTime", message: "ExpireTime is not ISO 8601.")
        }
        let subAppID = (p["SubAppId"] as? NSNumber)?.intValue
        let folder = "\(subAppID ?? configuration.appID)/\(Self.random(16))"
        let mediaKey = "\(folder)/f0.\(mediaType)"
        let coverKey = coverType.map { "\(folder)/cover.\($0)" }
        let sessionKey = Self.random(48)
        let secretID = "AKIDtmp" + Self.random(24)
        let secretKey = Self.random(32)
        let token = Self.random(64)
        let expires = now + configuration.credentialLifetime
        let name = (p["MediaName"] as? String) ?? "untitled"
        let session = EmulatorStore.Session(
            key: sessionKey, mediaKey: mediaKey, coverKey: coverKey, mediaType: mediaType, name: name,
            sourceContext: sourceContext, sessionContext: p["SessionContext"] as? String,
            classID: (p["ClassId"] as? NSNumber)?.intValue ?? 0, procedure: p["Procedure"] as? String, createdAt: now,
            subAppID: subAppID, fileID: nil, storageRegion: p["StorageRegion"] as? String, expireTime: p["ExpireTime"] as? String)
        let credential = EmulatorStore.Credential(
            secretID: secretID, secretKey: secretKey, token: token, expiresAt: expires, bucket: configuration.bucket,
            // An HLS package's files may go anywhere under the session's folder (§3.9).
            keys: [mediaKey] + (coverKey.map { [$0] } ?? []) + (mediaType.lowercased() == "m3u8" ? [folder + "/"] : []))
        try await store.issue(session: session, credential: credential)
        return [
            "StorageBucket": configuration.bucket, "StorageRegion": configuration.storageRegion, "VodSessionKey": sessionKey,
            "MediaStoragePath": "/" + mediaKey, "CoverStoragePath": coverKey.map { "/" + $0 } ?? NSNull(),
            "TempCertificate": ["SecretId": secretID, "SecretKey": secretKey, "Token": token, "ExpiredTime": expires],
        ]
    }

    func commitUpload(_ p: [String: Any], now: Int64) async throws -> [String: Any] {
        guard let key = p["VodSessionKey"] as? String, !key.isEmpty else {
            throw Failure(code: "MissingParameter", message: "The request is missing a required parameter `VodSessionKey`.")
        }
        switch try await store.commit(sessionKey: key, subAppID: (p["SubAppId"] as? NSNumber)?.intValue, now: now) {
        case .committed(let media, _):
            return ["FileId": media.fileID, "MediaUrl": media.mediaURL, "CoverUrl": media.coverURL ?? NSNull()]
        case .unknownSession, .expired:
            throw Failure(code: "InvalidParameterValue.VodSessionKey", message: "VodSessionKey is invalid or expired.")
        case .rejectedRepeat:
            throw Failure(code: "InvalidParameterValue.VodSessionKey", message: "VodSessionKey has already been committed.")
        case .missingMedia:
            throw Failure(code: "ResourceNotFound", message: "The media file of this session was not uploaded.")
        case .missingCover:
            throw Failure(code: "ResourceNotFound", message: "The cover of this session was not uploaded.")
        case .missingSegment(let name):
            throw Failure(code: "ResourceNotFound", message: "The playlist names \(name), which was not uploaded under the media's folder.")
        case .subAppMismatch:
            throw Failure(code: "InvalidParameterValue.SubAppId", message: "SubAppId does not match the one of ApplyUpload.")
        }
    }

    func describe(_ p: [String: Any]) async throws -> [String: Any] {
        guard let ids = p["FileIds"] as? [String], !ids.isEmpty, ids.count <= 20 else {
            throw Failure(code: "InvalidParameterValue.FileIds", message: "FileIds must hold 1 to 20 ids.")
        }
        let subAppID = (p["SubAppId"] as? NSNumber)?.intValue
        var set: [[String: Any]] = []
        var missing: [String] = []
        for id in ids {
            guard let m = await store.media(id), m.subAppID == subAppID else {
                missing.append(id)
                continue
            }
            set.append(mediaInfo(m))
        }
        return ["MediaInfoSet": set, "NotExistFileIdSet": missing]
    }

    /// `MediaInfo` with BasicInfo and MetaData; the processing results the emulator never makes are null.
    func mediaInfo(_ m: EmulatedMedia) -> [String: Any] {
        var info: [String: Any] = [
            "FileId": m.fileID,
            "BasicInfo": [
                "Name": m.name, "Description": m.description ?? "", "CreateTime": m.createTime, "UpdateTime": m.updateTime ?? m.createTime,
                "ExpireTime": m.expireTime ?? "9999-12-31T23:59:59Z", "ClassId": m.classID, "ClassName": "", "ClassPath": "",
                "CoverUrl": m.coverURL ?? "", "Type": m.mediaType, "MediaUrl": m.mediaURL,
                "SourceInfo": ["SourceType": "Upload", "SourceContext": m.sourceContext ?? ""],
                "StorageRegion": m.storageRegion ?? configuration.storageRegion, "StoragePath": m.storagePath,
                "TagSet": m.tags ?? [String](),
                "Vid": "",
                "Category": VODHandler.audioTypes.contains(m.mediaType) ? "Audio" : "Video", "Status": "Normal", "StorageClass": "STANDARD",
            ] as [String: Any],
            "MetaData": ["Size": m.size, "Container": m.mediaType, "Md5": m.md5] as [String: Any],
        ]
        for empty in [
            "TranscodeInfo", "AnimatedGraphicsInfo", "SampleSnapshotInfo", "ImageSpriteInfo", "SnapshotByTimeOffsetInfo",
            "KeyFrameDescInfo", "AdaptiveDynamicStreamingInfo", "MiniProgramReviewInfo", "SubtitleInfo", "ReviewInfo",
        ] { info[empty] = NSNull() }
        return info
    }

    static let audioTypes: Set<String> = ["mp3", "m4a", "flac", "wav", "ra", "aac", "amr", "ac3", "acm", "ape", "caf", "wma", "aiff"]

    /// SearchMedia (§3.5): FileIds, Names (fuzzy), NamePrefixes, ClassIds, MediaTypes, CreateTime,
    /// Sort by CreateTime, Offset and Limit.
    func search(_ p: [String: Any]) async throws -> [String: Any] {
        var s = EmulatorStore.Search()
        func strings(_ name: String, max count: Int, length: Int) throws -> [String] {
            guard let value = p[name] else { return [] }
            guard let list = value as? [String], list.count <= count, list.allSatisfy({ $0.count <= length }) else {
                throw Failure(
                    code: "InvalidParameterValue.\(name)",
                    message: "\(name) must be at most \(count) strings of at most \(length) characters.")
            }
            return list
        }
        s.fileIDs = try strings("FileIds", max: 10, length: 40)
        s.names = try strings("Names", max: 10, length: 100)
        s.namePrefixes = try strings("NamePrefixes", max: 10, length: 100)
        s.mediaTypes = try strings("MediaTypes", max: 10, length: 20)
        s.classIDs = ((p["ClassIds"] as? [NSNumber]) ?? []).map(\.intValue)
        s.subAppID = (p["SubAppId"] as? NSNumber)?.intValue
        if let time = p["CreateTime"] {
            guard let range = time as? [String: Any] else {
                throw Failure(code: "InvalidParameterValue.CreateTime", message: "CreateTime must be {After, Before}.")
            }
            for (field, value) in range {
                guard let text = value as? String, let date = ISO8601Timestamp.parse(text) else {
                    throw Failure(code: "InvalidParameterValue.CreateTime", message: "CreateTime.\(field) is not ISO 8601.")
                }
                if field == "After" { s.createdAfter = Int64(date.timeIntervalSince1970) }
                if field == "Before" { s.createdBefore = Int64(date.timeIntervalSince1970) }
            }
        }
        if let sort = p["Sort"] as? [String: Any] {
            guard (sort["Field"] as? String) == "CreateTime" else {
                throw Failure(code: "InvalidParameterValue.Sort", message: "Sort.Field must be CreateTime.")
            }
            switch sort["Order"] as? String {
            case "Asc": s.ascending = true
            case "Desc": s.ascending = false
            default: throw Failure(code: "InvalidParameterValue.Sort", message: "Sort.Order must be Asc or Desc.")
            }
        }
        s.offset = (p["Offset"] as? NSNumber)?.intValue ?? 0
        s.limit = (p["Limit"] as? NSNumber)?.intValue ?? 10
        guard s.offset >= 0, s.limit >= 0, s.offset + s.limit <= 5000 else {
            throw Failure(code: "InvalidParameterValue.Limit", message: "Offset + Limit must not exceed 5000.")
        }
        let (total, found) = try await store.search(s)
        return ["TotalCount": total, "MediaInfoSet": found.map(mediaInfo)]
    }

    /// DeleteMedia (§3.6): the whole media; DeleteParts other than OriginalFiles have nothing to delete here.
    /// ModifyMediaInfo (§3.8): Name ≤ 64 and Description ≤ 128 characters, ClassId, ExpireTime, and
    /// tags (AddTags, DeleteTags, ClearTags; at most 16 of at most 32 characters). Idempotent.
    func modify(_ p: [String: Any], now: Int64) async throws -> [String: Any] {
        guard let id = p["FileId"] as? String, !id.isEmpty else {
            throw Failure(code: "MissingParameter", message: "The request is missing a required parameter `FileId`.")
        }
        var change = EmulatorStore.MediaChange()
        change.name = p["Name"] as? String
        if let name = change.name, name.count > 64 {
            throw Failure(code: "InvalidParameterValue.Name", message: "Name is longer than 64 characters.")
        }
        change.description = p["Description"] as? String
        if let description = change.description, description.count > 128 {
            throw Failure(code: "InvalidParameterValue.Description", message: "Description is longer than 128 characters.")
        }
        change.classID = (p["ClassId"] as? NSNumber)?.intValue
        change.expireTime = p["ExpireTime"] as? String
        if let expire = change.expireTime, ISO8601Timestamp.parse(expire) == nil {
            throw Failure(code: "InvalidParameterValue.ExpireTime", message: "ExpireTime is not ISO 8601.")
        }
        change.addTags = p["AddTags"] as? [String] ?? []
        change.deleteTags = p["DeleteTags"] as? [String] ?? []
        change.clearTags = (p["ClearTags"] as? NSNumber)?.intValue == 1
        if let long = (change.addTags + change.deleteTags).first(where: { $0.count > 32 }) {
            throw Failure(code: "InvalidParameterValue.Tags", message: "The tag \(long) is longer than 32 characters.")
        }
        if !Set(change.addTags).isDisjoint(with: change.deleteTags) || (change.clearTags && !change.addTags.isEmpty) {
            throw Failure(code: "InvalidParameter", message: "AddTags must not share a tag with DeleteTags, nor come with ClearTags.")
        }
        switch try await store.modify(fileID: id, subAppID: (p["SubAppId"] as? NSNumber)?.intValue, change, now: now) {
        case .modified: return ["AddedSubtitleSet": [Any]()]
        case .notFound: throw Failure(code: "ResourceNotFound.FileNotExist", message: "The file \(id) does not exist.")
        case .tooManyTags(let count):
            throw Failure(code: "InvalidParameterValue.Tags", message: "A media has at most 16 tags; this change leaves \(count).")
        }
    }

    func delete(_ p: [String: Any], now: Int64) async throws -> [String: Any] {
        guard let id = p["FileId"] as? String, !id.isEmpty else {
            throw Failure(code: "MissingParameter", message: "The request is missing a required parameter `FileId`.")
        }
        guard let m = await store.media(id), m.subAppID == (p["SubAppId"] as? NSNumber)?.intValue,
            try await store.delete(fileID: id, now: now)
        else {
            throw Failure(code: "ResourceNotFound.FileNotExist", message: "The file \(id) does not exist.")
        }
        return [:]
    }

    /// ParseStreamingManifest (§3.9): the URIs an HLS playlist names (segments, and the playlists
    /// and files its tags name), as written in it; the parser the tool validates packages with.
    func parseStreamingManifest(_ p: [String: Any]) throws -> [String: Any] {
        guard let content = p["MediaManifestContent"] as? String, !content.isEmpty else {
            throw Failure(code: "MissingParameter", message: "The request is missing a required parameter `MediaManifestContent`.")
        }
        let type = (p["ManifestType"] as? String)?.lowercased() ?? "m3u8"
        guard type == "m3u8" else {
            throw Failure(code: "InvalidParameterValue.ManifestType", message: "The emulator parses m3u8 playlists only, not \(type).")
        }
        guard HLSPlaylist.isPlaylist(text: content) else {
            throw Failure(code: "InvalidParameterValue.MediaManifestContent", message: "The content is not an M3U8 playlist (#EXTM3U).")
        }
        return ["MediaSegmentSet": HLSPlaylist.references(content)]
    }

    /// PullEvents (§3.7): up to 16 events, each leased for 30 s; an empty poll waits up to
    /// `eventWaitSeconds`.
    func pullEvents(_ p: [String: Any]) async throws -> [String: Any] {
        let subAppID = (p["SubAppId"] as? NSNumber)?.intValue
        let deadline = Date().addingTimeInterval(configuration.eventWaitSeconds)
        while true {
            let events = try await store.pullEvents(subAppID: subAppID, now: Int64(Date().timeIntervalSince1970))
            if !events.isEmpty || Date() >= deadline {
                let set: [[String: Any]] = events.compactMap { event in
                    guard var object = (try? JSONSerialization.jsonObject(with: Data(event.content.utf8))) as? [String: Any] else {
                        return nil
                    }
                    object["EventHandle"] = event.handle
                    return object
                }
                return ["EventSet": set]
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func confirmEvents(_ p: [String: Any], now: Int64) async throws -> [String: Any] {
        guard let handles = p["EventHandles"] as? [String], !handles.isEmpty, handles.count <= 16 else {
            throw Failure(code: "InvalidParameterValue.EventHandles", message: "EventHandles must hold 1 to 16 handles.")
        }
        switch try await store.confirmEvents(handles, now: now) {
        case .confirmed: return [:]
        case .unknown(let bad):
            throw Failure(
                code: "InvalidParameterValue.EventHandles",
                message: "These event handles are unknown or were pulled more than 30 s ago: \(bad.joined(separator: ", ")).")
        }
    }

    static func random(_ count: Int) -> String { EmulatorConfiguration.randomKey(prefix: "", length: count) }
}
