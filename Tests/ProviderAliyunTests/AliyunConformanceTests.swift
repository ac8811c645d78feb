import AsyncHTTPClient
import Foundation
import IngestCore
import IngestTesting
import ProviderAliyun
import Testing
import VODHTTP

@testable import Emulator

extension ConformancePlatform {
    static let aliyun = ConformancePlatform(
        name: "aliyun",
        make: { endpoint, secret, partSize in
            AliyunProvider(
                configuration: AliyunConfiguration(
                    endpoint: URL(string: endpoint.url)!, region: "cn-shanghai",
                    credentials: AliyunCredentials(
                        accessKeyID: endpoint.aliyunAccessKeyID, accessKeySecret: secret ?? endpoint.aliyunAccessKeySecret),
                    partSize: partSize, partConcurrency: 3, apiTimeout: .seconds(30), transferTimeout: .seconds(60), partAttempts: 2),
                transport: AsyncHTTPTransport(client: .shared))
        },
        secret: { $0.aliyunAccessKeySecret },
        listing: { endpoint in
            let videos = try await ConformanceKit.admin(endpoint, "videos") as? [[String: Any]] ?? []
            return videos.map { ($0["videoID"] as? String ?? "", $0["title"] as? String ?? "", ($0["size"] as? NSNumber)?.int64Value) }
        })
}

@Suite("provider conformance kit: Alibaba")
struct AliyunConformanceKitTests {
    @Test(arguments: ConformanceKit.checks.map(\.name))
    func check(_ name: String) async throws {
        try await ConformanceKit.checks.first { $0.name == name }!.run(.aliyun)
    }
}

@Suite("Alibaba provider against the emulator")
struct AliyunProviderTests {
    typealias Kit = ConformanceKit

    func video(_ endpoint: Emulator.Endpoint, _ id: String) async throws -> [String: Any] {
        let videos = try await Kit.admin(endpoint, "videos") as? [[String: Any]] ?? []
        return try #require(videos.first { $0["videoID"] as? String == id })
    }

    @Test(
        "every field of the create calls arrives: title, description, tags, category, template group, storage, UserData.Extend, ReferenceId, cover"
    )
    func metadataArrives() async throws {
        try await Kit.withEmulator { endpoint, dir in
            let provider = ConformancePlatform.aliyun.make(endpoint, nil, 16 << 20)
            let media = try Kit.TestFile(dir, "clip.mp4", size: 4000)
            let cover = try Kit.TestFile(dir, "clip.png", size: 300)
            let base = Kit.item(media, cover: cover, title: "Clip 测试", description: "a, b", tags: ["x", "标签"], category: 42)
            let item = IngestItem(
                location: base.location, id: base.id, media: base.media, mediaType: base.mediaType, cover: base.cover, title: base.title,
                description: base.description, tags: base.tags, category: base.category, procedure: "b3a4c2e1f0d94f7fa8e9d5c6b7a80123",
                storageRegion: "outin-7a3f9c2e5b1d4e8fa6c0b9d2e4f1a3c5.oss-cn-shanghai.aliyuncs.com", expireTime: nil, sourceContext: nil,
                md5: nil, sha256: nil, meta: [MetaEntry(name: "season", value: "1")])
            let (session, remote) = try await Kit.upload(provider, item, context: "ctx")
            let v = try await video(endpoint, remote.fileID)
            #expect(v["title"] as? String == "Clip 测试")
            #expect(v["description"] as? String == "a, b")
            #expect(v["tags"] as? String == "x,标签")
            #expect((v["cateID"] as? NSNumber)?.intValue == 42)
            #expect(v["templateGroupID"] as? String == "b3a4c2e1f0d94f7fa8e9d5c6b7a80123")
            #expect(v["storageLocation"] as? String == "outin-7a3f9c2e5b1d4e8fa6c0b9d2e4f1a3c5.oss-cn-shanghai.aliyuncs.com")
            #expect(v["userData"] as? String == #"{"Extend":{"season":"1"}}"#)
            #expect(v["referenceID"] as? String == session.sourceContext)
            #expect(v["fileName"] as? String == "clip.mp4")
            #expect(v["coverURL"] as? String == remote.coverURL && remote.coverURL != nil)
            #expect(v["md5"] as? String == media.md5)
            // The report's media id is the VideoId, and the mezzanine is what was sent.
            #expect(remote.fileID == session.sessionKey)
        }
    }

    @Test("a video's status goes UploadSucc, Transcoding, Normal over the processing time")
    func statusOverTime() {
        let at: Int64 = 1000
        let shown = (0...7).map { EmulatorStore.status("UploadSucc", uploadedAt: at, now: at + $0, delay: 6) }
        #expect(shown == ["UploadSucc", "UploadSucc", "UploadSucc", "Transcoding", "Transcoding", "Transcoding", "Normal", "Normal"])
        #expect(EmulatorStore.status("Uploading", uploadedAt: nil, now: at, delay: 6) == "Uploading")
        #expect(EmulatorStore.status("UploadSucc", uploadedAt: at, now: at, delay: 0) == "Normal")
    }

    @Test("GetVideoInfos, polled, shows the status move forward to Normal; a video it does not have is a failure")
    func statusPolled() async throws {
        try await Kit.withEmulator({ $0.processingDelaySeconds = 2 }) { endpoint, dir in
            let provider = ConformancePlatform.aliyun.make(endpoint, nil, 16 << 20) as! AliyunProvider
            let media = try Kit.TestFile(dir, "p.mp4", size: 2000)
            let (_, remote) = try await Kit.upload(provider, Kit.item(media, title: "p"), context: "x")
            var seen: [String] = []
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            while clock.now < deadline, seen.last != "Normal" {
                let events = try await provider.nextEvents(fileIDs: [remote.fileID, "no-such-video"])
                if let status = events.first(where: { $0.fileID == remote.fileID })?.status, status != seen.last { seen.append(status) }
                #expect(events.first { $0.fileID == "no-such-video" }?.failure != nil, "a video the platform does not have is a failure")
                try await Task.sleep(for: .milliseconds(250))
            }
            // How much of it a poll sees depends on the machine's speed; the order never changes.
            let order = ["UploadSucc", "Transcoding", "Normal"]
            #expect(seen.last == "Normal" && seen == order.filter(seen.contains), "\(seen)")
        }
    }

    @Test("a create whose answer was lost is found by ReferenceId: the same video, fresh credentials, no orphan")
    func lostCreateAnswer() async throws {
        try await Kit.withEmulator { endpoint, dir in
            let provider = ConformancePlatform.aliyun.make(endpoint, nil, 16 << 20)
            let media = try Kit.TestFile(dir, "a.mp4", size: 2000)
            let request = UploadRequest(item: Kit.item(media, title: "a"), sourceContext: "x")
            let first = try await provider.prepare(request)
            // The answer to `first` was lost: the same row is prepared again.
            let second = try await provider.prepare(request)
            #expect(second.sessionKey == first.sessionKey && second.media.key == first.media.key)
            #expect(second.credentials.secretID != first.credentials.secretID)
            #expect(try await ConformancePlatform.aliyun.listing(endpoint).count == 1)
            try await provider.transfer(file: media.reference, to: second.media, session: second) { _ in }
            #expect(try await provider.commit(second).fileID == first.sessionKey)
        }
    }

    @Test("a ReferenceId that belongs to another row's video is never taken over")
    func referenceOfAnotherRow() async throws {
        try await Kit.withEmulator { endpoint, dir in
            let provider = ConformancePlatform.aliyun.make(endpoint, nil, 16 << 20)
            let a = try Kit.TestFile(dir, "a.mp4", size: 2000)
            let b = try Kit.TestFile(dir, "b.mp4", size: 3000)
            func request(_ file: Kit.TestFile, _ title: String) -> UploadRequest {
                let base = Kit.item(file, title: title)
                let item = IngestItem(
                    location: base.location, id: title, media: base.media, mediaType: base.mediaType, cover: nil, title: title,
                    description: nil,
                    tags: [], category: nil, procedure: nil, storageRegion: nil, expireTime: nil, sourceContext: "shared-ref-1", md5: nil,
                    sha256: nil, meta: [])
                return UploadRequest(item: item, sourceContext: "shared-ref-1")
            }
            let first = try await provider.prepare(request(a, "first"))
            let error = try await Kit.providerErrorPublic { _ = try await provider.prepare(request(b, "second")) }
            #expect(error?.code == "reference.taken" && error?.disposition == .failItem, "\(String(describing: error))")
            #expect(error?.message.contains(first.sessionKey) == true)
            let listed = try await ConformancePlatform.aliyun.listing(endpoint)
            #expect(listed.map(\.title) == ["first"])
        }
    }

    @Test("refused requests: a tampered OSS PUT, a key outside the STS scope, no token, a replayed nonce")
    func refusals() async throws {
        try await Kit.withEmulator { endpoint, dir in
            let provider = ConformancePlatform.aliyun.make(endpoint, nil, 16 << 20)
            let media = try Kit.TestFile(dir, "a.mp4", size: 2000)
            let session = try await provider.prepare(UploadRequest(item: Kit.item(media, title: "a"), sourceContext: "x"))
            let credentials = session.credentials
            func put(_ key: String, token: String?, signedKey: String? = nil) async throws -> (Int, String) {
                let date = OSSDate.now()
                var headers: [(String, String)] = [("Date", date)]
                if let token { headers.append(("x-oss-security-token", token)) }
                let toSign = OSSDate.stringToSign(bucket: session.media.bucket, key: signedKey ?? key, headers: headers)
                var request = HTTPClientRequest(url: endpoint.url + "/" + session.media.bucket + "/" + key)
                request.method = .PUT
                for (n, v) in headers { request.headers.add(name: n, value: v) }
                request.headers.add(name: "Authorization", value: OSSDate.authorization(credentials, toSign))
                request.body = .bytes(.init(bytes: [1, 2, 3]))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: body))
            }
            let other = try await put("sv/other/x.mp4", token: credentials.token)
            #expect(other.0 == 403 && other.1.contains("<Code>AccessDenied</Code>"))
            let tampered = try await put(session.media.key, token: credentials.token, signedKey: "sv/else.mp4")
            #expect(tampered.0 == 403 && tampered.1.contains("<Code>SignatureDoesNotMatch</Code>"))
            let noToken = try await put(session.media.key, token: nil)
            #expect(noToken.0 == 403 && noToken.1.contains("<Code>InvalidSecurityToken</Code>"))
            // Nothing of them was stored: the video is still Uploading.
            let error = try await Kit.providerErrorPublic { _ = try await provider.commit(session) }
            #expect(error?.code == "upload.not-complete" && error?.disposition == .retry)
        }
    }

    @Test("error codes map to dispositions by the table")
    func dispositions() {
        #expect(AliyunErrors.apiDisposition(code: "Throttling.User", status: 503) == .throttled)
        #expect(AliyunErrors.apiDisposition(code: "ServiceUnavailable", status: 503) == .retry)
        #expect(AliyunErrors.apiDisposition(code: "AddVideoFailed", status: 503) == .retry)
        #expect(AliyunErrors.apiDisposition(code: "SignatureNonceUsed", status: 400) == .retry)
        #expect(AliyunErrors.apiDisposition(code: "InvalidAccessKeyId.NotFound", status: 404) == .abortRun)
        #expect(AliyunErrors.apiDisposition(code: "Forbidden.RAM", status: 403) == .abortRun)
        #expect(AliyunErrors.apiDisposition(code: "InvalidFileName.Extension", status: 400) == .failItem)
        #expect(AliyunErrors.apiDisposition(code: "SomethingNew", status: 502) == .retry)
        #expect(AliyunErrors.ossDisposition(code: "SecurityTokenExpired", status: 403) == .renewSession)
        #expect(AliyunErrors.ossDisposition(code: "InvalidDigest", status: 400) == .failItem)
    }
}

/// OSS V1 signing for the refusal tests, written from the protocol notes (not the provider's code).
enum OSSDate {
    static func now() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: Date())
    }

    static func stringToSign(bucket: String, key: String, headers: [(String, String)]) -> String {
        let date = headers.first { $0.0 == "Date" }!.1
        let oss = headers.filter { $0.0.hasPrefix("x-oss-") }.sorted { $0.0 < $1.0 }.map { "\($0.0):\($0.1)\n" }.joined()
        return "PUT\n\n\n\(date)\n\(oss)/\(bucket)/\(key)"
    }

    static func authorization(_ c: TemporaryCredentials, _ stringToSign: String) -> String {
        "OSS \(c.secretID):" + VendorSigningBridge.hmacSHA1Base64(key: c.secretKey, stringToSign)
    }
}
