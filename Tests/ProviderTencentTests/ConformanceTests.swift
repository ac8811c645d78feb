import Synchronization
import AsyncHTTPClient
import Crypto
import Emulator
import Foundation
import NIOCore
import IngestCore
import IngestTesting
import ProviderTencent
import Testing
import VODHTTP

/// A provider as the conformance suite drives it: what every vendor target must pass against the
/// emulator. A vendor joins by adding itself to ``ProviderUnderTest/all``.
struct ProviderUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    /// A provider talking to the emulator at `endpoint` with `secretKey`, preferring parts of `partSize`.
    let make: @Sendable (_ endpoint: Emulator.Endpoint, _ secretKey: String, _ partSize: Int64) -> any VODProvider & MediaCatalog

    var testDescription: String { name }

    static let all: [ProviderUnderTest] = [
        ProviderUnderTest(name: "tencent") { endpoint, secretKey, partSize in
            let url = URL(string: endpoint.url)!
            return TencentProvider(
                configuration: TencentConfiguration(
                    endpoint: url, cosEndpoint: url, region: "ap-guangzhou",
                    credentials: TencentCredentials(secretID: endpoint.secretID, secretKey: secretKey), partSize: partSize,
                    partConcurrency: 3, apiTimeout: .seconds(10), transferTimeout: .seconds(30), partAttempts: 2),
                transport: AsyncHTTPTransport(client: .shared))
        }
    ]
}

/// Runs `body` against a fresh emulator (own data directory) tuned by `tune`.
func withEmulator<T: Sendable>(
    _ tune: @Sendable (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (Emulator.Endpoint, TemporaryDirectory) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory("vodingest-conformance")
    defer { directory.remove() }
    var configuration = EmulatorConfiguration(dataDirectory: directory.path + "/emulator", eventWaitSeconds: 0)
    tune(&configuration)
    return try await Emulator.withRunning(configuration: configuration) { endpoint in try await body(endpoint, directory) }
}

/// Files for the tests: deterministic bytes, so sizes and digests are known.
struct TestFile {
    let reference: FileReference
    let md5: String

    init(_ directory: TemporaryDirectory, _ name: String, size: Int) throws {
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

func item(_ media: TestFile, cover: TestFile? = nil, title: String) -> IngestItem {
    IngestItem(
        location: SourceLocation(manifest: "conformance.csv", line: 2), id: title, media: media.reference,
        mediaType: media.reference.fileExtension, cover: cover?.reference, title: title, description: nil, tags: [], category: nil,
        procedure: nil, storageRegion: nil, expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
}

/// prepare, transfer media (and cover), commit.
func upload(_ provider: any VODProvider, _ item: IngestItem, context: String) async throws -> RemoteMedia {
    let session = try await provider.prepare(UploadRequest(item: item, sourceContext: context, sessionContext: "conformance"))
    try await provider.transfer(file: item.media, to: session.media, session: session) { _ in }
    if let cover = item.cover, let location = session.cover {
        try await provider.transfer(file: cover, to: location, session: session) { _ in }
    }
    return try await provider.commit(session)
}

func admin<T: Decodable>(_ endpoint: Emulator.Endpoint, _ path: String, as type: T.Type) async throws -> T {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: endpoint.url + "/_emulator/" + path), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    return try JSONDecoder().decode(T.self, from: Data(buffer: body))
}

/// The error a throwing call threw, as a ``ProviderError``.
func providerError(_ body: () async throws -> Void) async -> ProviderError? {
    do {
        try await body()
        return nil
    } catch let error as ProviderError {
        return error
    } catch {
        Issue.record("expected a ProviderError, got \(error)")
        return nil
    }
}

@Suite("provider conformance against the emulator")
struct ConformanceTests {
    @Test("simple upload with a cover: FileId, URLs serve the bytes, describe and listing agree", arguments: ProviderUnderTest.all)
    func simpleUploadWithCover(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            let media = try TestFile(dir, "clip.mp4", size: 300_000)
            let cover = try TestFile(dir, "clip.jpg", size: 20_000)
            let remote = try await upload(provider, item(media, cover: cover, title: "clip"), context: "conformance:clip")
            #expect(remote.fileID.count == 19 && remote.fileID.allSatisfy(\.isNumber))
            #expect(!remote.requestID.isEmpty)
            let served = try await HTTPClient.shared.execute(HTTPClientRequest(url: try #require(remote.mediaURL)), timeout: .seconds(10))
            let bytes = try await served.body.collect(upTo: 1 << 20)
            #expect(Insecure.MD5.hash(data: Data(buffer: bytes)).map { String(format: "%02x", $0) }.joined() == media.md5)
            #expect(remote.coverURL != nil)

            let (found, missing) = try await provider.describe(fileIDs: [remote.fileID, "5285890000000000000"])
            #expect(missing == ["5285890000000000000"])
            let info = try #require(found.first)
            #expect(info.fileID == remote.fileID && info.name == "clip" && info.size == 300_000 && info.md5 == media.md5)
            #expect(info.sourceContext == "conformance:clip")
            let listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.map(\.fileID) == [remote.fileID])
            #expect(listing.first?.coverSize == 20_000)
        }
    }

    @Test("multipart upload: parts in parallel, whole-file MD5 right on the platform", arguments: ProviderUnderTest.all)
    func multipart(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 1 << 20)
            let media = try TestFile(dir, "long.mov", size: 5 << 20 + 3)
            let remote = try await upload(provider, item(media, title: "long"), context: "conformance:long")
            let counters = try await admin(endpoint, "counters", as: EmulatorCounters.self)
            #expect(counters.cosRequests["UploadPart"] == 6)
            #expect(counters.cosRequests["CompleteMultipartUpload"] == 1)
            let info = try #require(try await provider.describe(fileIDs: [remote.fileID]).found.first)
            #expect(info.size == Int64(5 << 20 + 3) && info.md5 == media.md5)
        }
    }

    @Test("search by name prefix, fuzzy name and time; delete removes", arguments: ProviderUnderTest.all)
    func searchAndDelete(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            var ids: [String] = []
            for name in ["run7-a", "run7-b", "other"] {
                let media = try TestFile(dir, name + ".mp4", size: 1000 + ids.count)
                ids.append(try await upload(provider, item(media, title: name), context: "conformance:" + name).fileID)
            }
            let byPrefix = try await provider.search(MediaQuery(namePrefixes: ["run7-"]))
            #expect(byPrefix.total == 2 && byPrefix.media.map(\.fileID) == Array(ids.prefix(2)))
            #expect(try await provider.search(MediaQuery(names: ["the"])).media.map(\.fileID) == [ids[2]])
            let now = Int64(Date().timeIntervalSince1970)
            #expect(try await provider.search(MediaQuery(createdAfter: now - 60, createdBefore: now + 60)).total == 3)
            #expect(try await provider.search(MediaQuery(createdBefore: now - 60)).total == 0)
            let page = try await provider.search(MediaQuery(offset: 1, limit: 1))
            #expect(page.total == 3 && page.media.map(\.fileID) == [ids[1]])

            try await provider.delete(fileID: ids[0])
            #expect(try await provider.describe(fileIDs: [ids[0]]).missing == [ids[0]])
            let again = await providerError { try await provider.delete(fileID: ids[0]) }
            #expect(again?.code == "ResourceNotFound.FileNotExist" && again?.disposition == .failItem)
        }
    }

    @Test("a wrong SecretKey stops the run, and the key is in no message", arguments: ProviderUnderTest.all)
    func wrongSecret(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let wrongKey = String(endpoint.secretKey.reversed())
            let provider = p.make(endpoint, wrongKey, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 100)
            let error = await providerError { _ = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x")) }
            #expect(error?.code == "AuthFailure.SignatureFailure" && error?.disposition == .abortRun)
            let text = error.map(String.init(describing:)) ?? ""
            #expect(!text.contains(wrongKey) && !text.contains(endpoint.secretKey))
        }
    }

    @Test("a repeated commit: the same FileId when idempotent, VodSessionKey refused when rejecting", arguments: ProviderUnderTest.all)
    func repeatedCommit(_ p: ProviderUnderTest) async throws {
        for policy in [EmulatorConfiguration.CommitPolicy.idempotent, .reject] {
            try await withEmulator({ $0.commitPolicy = policy }) { endpoint, dir in
                let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
                let media = try TestFile(dir, "a.mp4", size: 1000)
                let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
                try await provider.transfer(file: media.reference, to: session.media, session: session) { _ in }
                let first = try await provider.commit(session)
                switch policy {
                case .idempotent:
                    #expect(try await provider.commit(session).fileID == first.fileID)
                case .reject:
                    let error = await providerError { _ = try await provider.commit(session) }
                    #expect(error?.code == "InvalidParameterValue.VodSessionKey" && error?.disposition == .failItem)
                }
                #expect(try await admin(endpoint, "media", as: [EmulatedMedia].self).count == 1)
            }
        }
    }

    @Test("commit before the bytes are there is ResourceNotFound", arguments: ProviderUnderTest.all)
    func commitWithoutUpload(_ p: ProviderUnderTest) async throws {
        try await withEmulator { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 1000)
            let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
            let error = await providerError { _ = try await provider.commit(session) }
            #expect(error?.code == "ResourceNotFound" && error?.disposition == .failItem)
        }
    }

    @Test("expired temporary credentials ask for a new session", arguments: ProviderUnderTest.all)
    func expiredCredentials(_ p: ProviderUnderTest) async throws {
        try await withEmulator({ $0.credentialLifetime = 0 }) { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 1000)
            let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
            let error = await providerError { try await provider.transfer(file: media.reference, to: session.media, session: session) { _ in } }
            #expect(error?.disposition == .renewSession)
            let text = error.map(String.init(describing:)) ?? ""
            #expect(!text.contains(session.credentials.secretKey))
        }
    }

    @Test("throttling is told apart from failure", arguments: ProviderUnderTest.all)
    func throttled(_ p: ProviderUnderTest) async throws {
        try await withEmulator({ $0.actionRateLimit = 1 }) { endpoint, dir in
            let provider = p.make(endpoint, endpoint.secretKey, 16 << 20)
            let media = try TestFile(dir, "a.mp4", size: 1000)
            let request = UploadRequest(item: item(media, title: "a"), sourceContext: "x")
            var seen: ProviderError? = nil
            for _ in 0..<5 where seen == nil {
                seen = await providerError { _ = try await provider.prepare(request) }
            }
            #expect(seen?.code == "RequestLimitExceeded" && seen?.disposition == .throttled)
        }
    }

    @Test("transient storage faults are retryable: SlowDown, connection reset mid-body, a 200 Complete holding an Error",
          arguments: ProviderUnderTest.all)
    func transientFaults(_ p: ProviderUnderTest) async throws {
        let faults: [(String, @Sendable (inout EmulatorConfiguration) -> Void, Int, Disposition)] = [
            ("SlowDown", { $0.cosSlowDownRate = 1 }, 100_000, .throttled),
            ("reset", { $0.connectionResetRate = 1 }, 600_000, .retry),
            ("complete", { $0.completeErrorRate = 1 }, 3 << 20, .retry),
        ]
        for (name, tune, size, expected) in faults {
            try await withEmulator(tune) { endpoint, dir in
                let provider = p.make(endpoint, endpoint.secretKey, 1 << 20)
                let media = try TestFile(dir, "a.mp4", size: size)
                let session = try await provider.prepare(UploadRequest(item: item(media, title: "a"), sourceContext: "x"))
                // The provider retries each storage request itself before giving up, and says so each time.
                let retries = Mutex<[String]>([])
                let checkpoint = TransferCheckpoint(retrying: { error in retries.withLock { $0.append(error.code) } })
                let error = await providerError {
                    try await provider.transfer(file: media.reference, to: session.media, session: session, checkpoint: checkpoint)
                }
                #expect(error?.disposition == expected, "\(name): \(String(describing: error))")
                #expect(retries.withLock { $0.count } >= 1, "\(name): no retry was reported")
                if name == "reset" {
                    #expect(try await admin(endpoint, "counters", as: EmulatorCounters.self).connectionResets >= 1)
                }
                // The fault gone, the same session finishes.
                try await HTTPClient.shared.execute(
                    {
                        var r = HTTPClientRequest(url: endpoint.url + "/_emulator/config")
                        r.method = .PUT
                        r.body = .bytes(ByteBuffer(string: #"{"cosSlowDownRate":0,"connectionResetRate":0,"completeErrorRate":0}"#))
                        return r
                    }(), timeout: .seconds(10))
                try await provider.transfer(file: media.reference, to: session.media, session: session) { _ in }
                let remote = try await provider.commit(session)
                #expect(try await provider.describe(fileIDs: [remote.fileID]).found.first?.md5 == media.md5, "\(name)")
            }
        }
    }
}
