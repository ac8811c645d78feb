import AsyncHTTPClient
import Crypto
import Emulator
import Foundation
import IngestCore
import NIOCore
import NIOHTTP1
import Synchronization
import VODHTTP

/// A platform as the conformance kit drives it against the emulator: every provider target passes
/// the same checks (rclone's `fstests`). The kit asserts dispositions and outcomes, never vendor
/// error strings; a platform's differences come from its ``ProviderProfile``.
public struct ConformancePlatform: Sendable, CustomStringConvertible {
    public let name: String
    /// A provider talking to the emulator at `endpoint`, signing with `secret` (the account's, or a
    /// wrong one), preferring parts of `partSize`.
    public let make: @Sendable (_ endpoint: Emulator.Endpoint, _ secret: String?, _ partSize: Int64) -> any VODProvider & MediaCatalog
    /// The account secret the emulator accepts for this platform.
    public let secret: @Sendable (Emulator.Endpoint) -> String
    /// The admin listing of this dialect's media: `(id, title, size)`.
    public let listing: @Sendable (Emulator.Endpoint) async throws -> [(id: String, title: String, size: Int64?)]

    public init(
        name: String, make: @escaping @Sendable (Emulator.Endpoint, String?, Int64) -> any VODProvider & MediaCatalog,
        secret: @escaping @Sendable (Emulator.Endpoint) -> String,
        listing: @escaping @Sendable (Emulator.Endpoint) async throws -> [(id: String, title: String, size: Int64?)]
    ) {
        self.name = name
        self.make = make
        self.secret = secret
        self.listing = listing
    }

    public var description: String { name }
}

/// A check of the kit that did not hold.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
}

/// The shared conformance checks, each against a fresh emulator.
public enum ConformanceKit {
    static func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    /// Runs `body` against a fresh emulator (own data directory) tuned by `tune`.
    public static func withEmulator<T: Sendable>(
        _ tune: @Sendable (inout EmulatorConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (Emulator.Endpoint, TemporaryDirectory) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory("vodingest-conformance")
        defer { directory.remove() }
        var configuration = EmulatorConfiguration(dataDirectory: directory.path + "/emulator", eventWaitSeconds: 0)
        tune(&configuration)
        return try await Emulator.withRunning(configuration: configuration) { endpoint in try await body(endpoint, directory) }
    }

    /// A file of deterministic bytes.
    public struct TestFile: Sendable {
        public let reference: FileReference
        public let md5: String

        public init(_ directory: TemporaryDirectory, _ name: String, size: Int) throws {
            var bytes = [UInt8](repeating: 0, count: size)
            var state: UInt32 = UInt32(truncatingIfNeeded: size) &+ 2_654_435_761
            for i in bytes.indices {
                state = state &* 1_664_525 &+ 1_013_904_223
                bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
            }
            let path = try directory.write(name, bytes: bytes)
            reference = FileReference(
                given: name, resolved: path, size: Int64(size), modified: nil, fileExtension: (name as NSString).pathExtension.lowercased())
            md5 = Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        }
    }

    public static func item(
        _ media: TestFile, cover: TestFile? = nil, title: String, description: String? = nil, tags: [String] = [], category: Int? = nil
    ) -> IngestItem {
        IngestItem(
            location: SourceLocation(manifest: "conformance.csv", line: 2), id: title, media: media.reference,
            mediaType: media.reference.fileExtension, cover: cover?.reference, title: title, description: description, tags: tags,
            category: category, procedure: nil, storageRegion: nil, expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
    }

    /// The whole flow as the engine runs it, by the profile: the cover on its own or under the
    /// session, prepare, the media, completion.
    public static func upload(_ provider: any VODProvider, _ item: IngestItem, context: String) async throws -> (UploadSession, RemoteMedia)
    {
        var request = UploadRequest(item: item, sourceContext: context, sessionContext: "conformance")
        if provider.profile.coverUpload == .ownUpload, let cover = item.cover {
            let upload = try await provider.prepareCover(request)
            _ = try await provider.transferCover(file: cover, upload: upload, checkpoint: TransferCheckpoint())
            request.coverURL = upload.url
        }
        let session = try await provider.prepare(request)
        try await provider.transfer(file: item.media, to: session.media, session: session) { _ in }
        if let cover = item.cover, let location = session.cover {
            try await provider.transfer(file: cover, to: location, session: session) { _ in }
        }
        return (session, try await provider.commit(session))
    }

    public static func admin(
        _ endpoint: Emulator.Endpoint, _ path: String, method: HTTPMethod = .GET, body: String? = nil
    ) async throws -> Any {
        var request = HTTPClientRequest(url: endpoint.url + "/_emulator/" + path)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 16 << 20)
        return try JSONSerialization.jsonObject(with: Data(buffer: data), options: [.fragmentsAllowed])
    }

    /// The emulator's storage request counters whose name ends with `operation` (COS and OSS alike).
    public static func storageRequests(_ endpoint: Emulator.Endpoint, _ operation: String) async throws -> Int {
        let counters = try await admin(endpoint, "counters") as? [String: Any] ?? [:]
        let requests = counters["cosRequests"] as? [String: Int] ?? [:]
        return requests.filter { $0.key == operation || $0.key.hasSuffix("." + operation) }.values.reduce(0, +)
    }

    static func md5(ofURL url: String) async throws -> String {
        let served = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let bytes = try await served.body.collect(upTo: 64 << 20)
        return Insecure.MD5.hash(data: Data(buffer: bytes)).map { String(format: "%02x", $0) }.joined()
    }

    /// The ``ProviderError`` a call threw, nil when it did not throw (any other error is rethrown).
    public static func providerErrorPublic(_ body: () async throws -> Void) async throws -> ProviderError? {
        try await providerError(body)
    }

    static func providerError(_ body: () async throws -> Void) async throws -> ProviderError? {
        do {
            try await body()
            return nil
        } catch let error as ProviderError {
            return error
        }
    }

    // MARK: The checks

    /// A simple upload with a cover: a media id, the URLs serve the bytes, describe and the listing agree.
    public static func simpleUploadWithCover(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, nil, 16 << 20)
            let media = try TestFile(dir, "clip.mp4", size: 300_000)
            let cover = try TestFile(dir, "clip.jpg", size: 20_000)
            let (_, remote) = try await upload(
                provider, item(media, cover: cover, title: "clip", description: "a clip", tags: ["a", "b"], category: 7),
                context: "conformance:clip")
            try require(!remote.fileID.isEmpty && !remote.requestID.isEmpty, "no media id or request id: \(remote)")
            try require(try await md5(ofURL: remote.mediaURL ?? "") == media.md5, "the media URL does not serve the bytes sent")
            try require(try await md5(ofURL: remote.coverURL ?? "") == cover.md5, "the cover URL does not serve the cover sent")
            let (found, missing) = try await provider.describe(fileIDs: [remote.fileID, "0000000000000000000"])
            try require(missing == ["0000000000000000000"], "describe: \(missing) missing, expected the made-up id")
            let info = try found.first.map { $0 } ?? { throw ConformanceFailure(description: "describe did not find \(remote.fileID)") }()
            try require(info.name == "clip" && info.size == 300_000, "describe: \(info)")
            try require(info.classID == 7, "the category did not arrive: \(info)")
            let listing = try await p.listing(endpoint)
            try require(listing.map(\.id) == [remote.fileID], "listing \(listing.map(\.id)), expected [\(remote.fileID)]")
        }
    }

    /// Multipart: parts in parallel, the whole file right on the platform.
    public static func multipart(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, nil, 1 << 20)
            let media = try TestFile(dir, "long.mov", size: 5 << 20 + 3)
            let (_, remote) = try await upload(provider, item(media, title: "long"), context: "conformance:long")
            try require(try await storageRequests(endpoint, "UploadPart") == 6, "expected 6 parts")
            try require(try await storageRequests(endpoint, "CompleteMultipartUpload") == 1, "expected one Complete")
            try require(try await md5(ofURL: remote.mediaURL ?? "") == media.md5, "the platform holds other bytes")
            let info = try await provider.describe(fileIDs: [remote.fileID]).found.first
            try require(info?.size == Int64(5 << 20 + 3), "describe: size \(String(describing: info?.size))")
        }
    }

    /// A multipart upload stopped after some parts continues from the parts the store lists.
    public static func resumeFromListedParts(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, nil, 1 << 20)
            let media = try TestFile(dir, "resume.mp4", size: 4 << 20)
            let session = try await provider.prepare(UploadRequest(item: item(media, title: "resume"), sourceContext: "conformance:resume"))
            let started = Mutex<String?>(nil)
            let confirmed = Mutex(0)
            let stopping = TransferCheckpoint(
                multipartStarted: { id in started.withLock { $0 = id } },
                partConfirmed: { @Sendable _, _, _ in
                    let count = confirmed.withLock { value -> Int in
                        value += 1
                        return value
                    }
                    if count >= 2 { throw CancellationError() }
                })
            do {
                _ = try await provider.transfer(file: media.reference, to: session.media, session: session, checkpoint: stopping)
                throw ConformanceFailure(description: "the stopped transfer finished")
            } catch is CancellationError {}
            let id = try started.withLock { $0 } ?? { throw ConformanceFailure(description: "no multipart upload was started") }()
            let result = try await provider.transfer(
                file: media.reference, to: session.media, session: session, checkpoint: TransferCheckpoint(uploadID: id))
            try require(result.resumedBytes >= 1 << 20, "nothing was kept from the listed parts (\(result.resumedBytes) bytes)")
            try require(try await storageRequests(endpoint, "InitiateMultipartUpload") == 1, "the resume started a second multipart upload")
            let remote = try await provider.commit(session)
            try require(try await md5(ofURL: remote.mediaURL ?? "") == media.md5, "the resumed object has other bytes")
        }
    }

    /// Credentials that expire mid-upload: refreshed in place where the platform can (the multipart
    /// upload goes on, one media), else a new session is asked for.
    public static func credentialsExpireMidUpload(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, nil, 1 << 20)
            let media = try TestFile(dir, "expire.mp4", size: 3 << 20)
            let session = try await provider.prepare(UploadRequest(item: item(media, title: "expire"), sourceContext: "conformance:expire"))
            let expirePath = "expire-credentials?key=" + AliyunStyle.encode(session.media.key)
            let refreshes = Mutex(0)
            let confirmed = Mutex(0)
            var refresh: (@Sendable () async throws -> TemporaryCredentials)? = nil
            if provider.profile.credentialRenewal == .refreshInPlace {
                refresh = { @Sendable () async throws -> TemporaryCredentials in
                    refreshes.withLock { $0 += 1 }
                    return try await provider.refresh(session).credentials
                }
            }
            let checkpoint = TransferCheckpoint(
                partConfirmed: { @Sendable _, _, _ in
                    // After the first part, the credentials end.
                    let count = confirmed.withLock { value -> Int in
                        value += 1
                        return value
                    }
                    if count == 1 { _ = try await admin(endpoint, expirePath, method: .POST) }
                }, refreshCredentials: refresh, credentialMargin: 0)
            let error = try await providerError {
                _ = try await provider.transfer(file: media.reference, to: session.media, session: session, checkpoint: checkpoint)
            }
            switch provider.profile.credentialRenewal {
            case .refreshInPlace:
                try require(error == nil, "the transfer failed although credentials can be refreshed: \(String(describing: error))")
                try require(refreshes.withLock { $0 } >= 1, "no refresh was asked for")
                try require(try await storageRequests(endpoint, "InitiateMultipartUpload") == 1, "the refresh restarted the upload")
                let remote = try await provider.commit(session)
                try require(try await md5(ofURL: remote.mediaURL ?? "") == media.md5, "other bytes after the refresh")
                try require(try await p.listing(endpoint).count == 1, "a refresh made a second media")
            case .newSession:
                try require(error?.disposition == .renewSession, "expected renewSession, got \(String(describing: error))")
                try require(
                    !(error.map(String.init(describing:)) ?? "").contains(session.credentials.secretKey), "the secret is in the message")
            }
        }
    }

    /// A wrong secret stops the run, and no secret is in any message.
    public static func wrongSecret(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let right = p.secret(endpoint)
            let wrong = String(right.reversed())
            let provider = p.make(endpoint, wrong, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 100)
            let error = try await providerError {
                _ = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
            }
            try require(error?.disposition == .abortRun, "expected abortRun, got \(String(describing: error))")
            let text = error.map(String.init(describing:)) ?? ""
            try require(!text.contains(wrong) && !text.contains(right), "a secret is in the message: \(text)")
        }
    }

    /// The platform's rate limit is told apart from failure: eight prepares of distinct rows at
    /// once against a limit of one a second.
    public static func throttling(_ p: ConformancePlatform) async throws {
        try await withEmulator({ $0.actionRateLimit = 1 }) { endpoint, dir in
            let provider = p.make(endpoint, nil, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 1000)
            let errors = try await withThrowingTaskGroup(of: ProviderError?.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await providerError {
                            _ = try await provider.prepare(UploadRequest(item: item(media, title: "a\(i)"), sourceContext: "x\(i)"))
                        }
                    }
                }
                var all: [ProviderError] = []
                for try await error in group { if let error { all.append(error) } }
                return all
            }
            try require(!errors.isEmpty && errors.allSatisfy { $0.disposition == .throttled }, "expected throttled refusals, got \(errors)")
        }
    }

    /// A completion whose answer was lost is found again on the platform, not made twice.
    public static func lostCompletionAnswer(_ p: ConformancePlatform) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, nil, 16 << 20)
            let media = try TestFile(dir, "lost.mp4", size: 5000)
            let item = item(media, title: "lost")
            let (session, remote) = try await upload(provider, item, context: "conformance:lost")
            let context = RecoveryContext(
                sourceContext: session.sourceContext ?? "conformance:lost", rowToken: UploadRequest(item: item, sourceContext: "").rowToken,
                md5: media.md5, appliedAt: Int64(Date().timeIntervalSince1970) - 5, session: nil, searches: 2, pause: .milliseconds(100),
                pace: { _ in })
            let found = try await provider.recoverCommit(item, context: context)
            try require(found?.fileID == remote.fileID, "recovery found \(String(describing: found?.fileID)), expected \(remote.fileID)")
            try require(try await p.listing(endpoint).count == 1, "recovery made a second media")
        }
    }

    /// Transient storage faults (throttling, a reset mid-body, a failed Complete) are retryable,
    /// reported as retries, and the same session finishes once they stop.
    public static func transientStorageFaults(_ p: ConformancePlatform) async throws {
        let faults: [(String, @Sendable (inout EmulatorConfiguration) -> Void, Int)] = [
            ("slow down", { $0.cosSlowDownRate = 1 }, 100_000),
            ("reset", { $0.connectionResetRate = 1 }, 600_000),
            ("complete", { $0.completeErrorRate = 1 }, 3 << 20),
        ]
        for (name, tune, size) in faults {
            try await withEmulator(tune) { endpoint, dir in
                let provider = p.make(endpoint, nil, 1 << 20)
                let media = try TestFile(dir, "a.mp4", size: size)
                let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
                let retries = Mutex(0)
                let checkpoint = TransferCheckpoint(retrying: { _ in retries.withLock { $0 += 1 } })
                let error = try await providerError {
                    _ = try await provider.transfer(file: media.reference, to: session.media, session: session, checkpoint: checkpoint)
                }
                try require(
                    error?.disposition == .retry || error?.disposition == .throttled,
                    "\(name): expected a retryable error, got \(String(describing: error))")
                try require(retries.withLock { $0 } >= 1, "\(name): no retry was reported")
                _ = try await admin(
                    endpoint, "config", method: .PUT, body: #"{"cosSlowDownRate":0,"connectionResetRate":0,"completeErrorRate":0}"#)
                try await provider.transfer(file: media.reference, to: session.media, session: session) { _ in }
                let remote = try await provider.commit(session)
                try require(try await md5(ofURL: remote.mediaURL ?? "") == media.md5, "\(name): other bytes on the platform")
            }
        }
    }

    /// Every check, by name, for parameterised tests.
    public static let checks: [(name: String, run: @Sendable (ConformancePlatform) async throws -> Void)] = [
        ("simple upload with a cover", simpleUploadWithCover),
        ("multipart", multipart),
        ("resume from listed parts", resumeFromListedParts),
        ("credentials expire mid-upload", credentialsExpireMidUpload),
        ("wrong secret", wrongSecret),
        ("throttling", throttling),
        ("lost completion answer", lostCompletionAnswer),
        ("transient storage faults", transientStorageFaults),
    ]
}

/// Query-value encoding for the admin API.
enum AliyunStyle {
    static func encode(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
}
