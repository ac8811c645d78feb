import Foundation
import IngestCore
import IngestEngine
import Synchronization
import Testing

/// A journal in memory: the events of each item, in order.
final class MemoryJournal: JournalStore, Sendable {
    let events = Mutex<[String]>([])
    func begin(_ run: RunRecord) async throws {}
    func end(runID: String, status: String, summary: String?) async throws {}
    func inFlight() async throws -> [ResumePoint] { [] }
    func register(
        _ items: [IngestItem], manifest: ManifestFingerprint, runID: String, sourceContexts: [String], values: [String],
        reopenDuplicates: Bool
    )
        async throws -> [Registration]
    { items.indices.map { .start(key: Int64($0), duplicates: []) } }
    func registerInvalid(_ rows: [InvalidRow], runID: String) async throws {}
    func record(_ key: Int64, from state: ItemState, _ event: JournalEvent) async throws {
        guard ItemLifecycle.next(state, event) != nil else { throw IngestError(code: "journal.conflict", message: "\(event) in \(state)") }
        let name = "\(event)".split(separator: "(").first.map(String.init) ?? "\(event)"
        events.withLock { $0.append(name) }
    }
    func records(manifestPaths: [String]?, _ body: (JournalRecord) throws -> Void) throws {}
    func awaitingProcessing(committedSince: Int64?, after: Int64, limit: Int) async throws -> [ProcessingState] { [] }
    func countAwaitingProcessing(committedSince: Int64?) async throws -> Int { 0 }
    func processingStates(fileIDs: [String]) async throws -> [String: ProcessingState] { [:] }
    func knownMedia(_ fileIDs: [String]) async throws -> Set<String> { [] }
    func recordProcessing(_ states: [ProcessingState]) async throws {}
    func runs() async throws -> [RunRecord] { [] }
}

struct NoChanges: SourceFiles {
    func change(of file: FileReference) -> SourceChange? { nil }
    func digest(of file: FileReference) async throws -> (md5: String, crc64: String) { ("00", "0") }
}

/// A provider that records the calls the engine makes, with the profile it is given: the engine's
/// decisions are tested against the profile's data, without a platform.
final class FlowProvider: VODProvider, Sendable {
    let profile: ProviderProfile
    let calls = Mutex<[String]>([])
    /// Credentials of the first session expire this many seconds from now.
    let firstLifetime: Int64
    let refreshes = Mutex(0)

    init(profile: ProviderProfile, firstLifetime: Int64 = 3600) {
        self.profile = profile
        self.firstLifetime = firstLifetime
    }

    var name: String { profile.name }
    func log(_ call: String) { calls.withLock { $0.append(call) } }

    func credentials(_ lifetime: Int64) -> TemporaryCredentials {
        TemporaryCredentials(secretID: "id", secretKey: "key", token: "t", expiresAt: Int64(Date().timeIntervalSince1970) + lifetime)
    }

    func prepare(_ request: UploadRequest) async throws -> UploadSession {
        log("prepare(cover: \(request.coverURL ?? "none"))")
        return UploadSession(
            sessionKey: "v1", media: ObjectLocation(bucket: "b", region: "r", key: "k"), cover: nil,
            credentials: credentials(firstLifetime),
            requestID: "rq", coverURL: request.coverURL)
    }
    func prepareCover(_ request: UploadRequest) async throws -> CoverUpload {
        log("prepareCover")
        return CoverUpload(
            location: ObjectLocation(bucket: "b", region: "r", key: "c"), credentials: credentials(3600), url: "http://c", imageID: "i",
            requestID: "rc")
    }
    func transferCover(file: FileReference, upload: CoverUpload, checkpoint: TransferCheckpoint) async throws -> TransferResult {
        log("transferCover")
        return TransferResult(md5: nil)
    }
    func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint
    ) async throws
        -> TransferResult
    {
        log("transfer(expires in \(session.credentials.expiresAt - Int64(Date().timeIntervalSince1970) > 1000 ? "long" : "short"))")
        return TransferResult(md5: "ab")
    }
    func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async { log("abandon") }
    func refresh(_ session: UploadSession) async throws -> UploadSession {
        log("refresh")
        var fresh = session
        fresh.credentials = credentials(3600)
        return fresh
    }
    func commit(_ session: UploadSession) async throws -> RemoteMedia {
        log("commit")
        return RemoteMedia(fileID: session.sessionKey, mediaURL: nil, coverURL: session.coverURL, requestID: "rm")
    }
    func recoverCommit(_ item: IngestItem, context: RecoveryContext) async throws -> RemoteMedia? { nil }
}

final class OneWork: WorkSource, @unchecked Sendable {
    var works: [Work]
    init(_ works: [Work]) { self.works = works }
    func next() async throws -> Work? { works.isEmpty ? nil : works.removeFirst() }
}

@Suite("the runner follows the platform's profile")
struct RunnerFlowTests {
    func item(cover: Bool) -> IngestItem {
        let media = FileReference(given: "a.mp4", resolved: "/nonexistent/a.mp4", size: 10, modified: nil, fileExtension: "mp4")
        let coverFile = FileReference(given: "a.png", resolved: "/nonexistent/a.png", size: 5, modified: nil, fileExtension: "png")
        return IngestItem(
            location: SourceLocation(manifest: "m.csv", line: 2), id: "a", media: media, mediaType: "mp4", cover: cover ? coverFile : nil,
            title: "A", description: nil, tags: [], category: nil, procedure: nil, storageRegion: nil, expireTime: nil, sourceContext: nil,
            md5: nil, sha256: nil, meta: [])
    }

    func run(_ provider: FlowProvider, cover: Bool) async throws -> (ItemOutcome?, [String], IngestStats.Snapshot) {
        let journal = MemoryJournal()
        let stats = IngestStats()
        let runner = IngestRunner(options: IngestOptions(apiRate: 1000, runID: "t"), stats: stats, journal: journal, sources: NoChanges())
        let outcome = Mutex<ItemOutcome?>(nil)
        _ = try await runner.run(OneWork([Work(key: 1, item: item(cover: cover), sourceContext: "ctx")]), provider: provider) { o in
            outcome.withLock { $0 = o }
        }
        return (outcome.withLock { $0 }, journal.events.withLock { $0 }, stats.snapshot)
    }

    @Test func aCoverOfItsOwnGoesFirstAndItsURLIntoTheCreateCall() async throws {
        let provider = FlowProvider(profile: .aliyun)
        let (outcome, _, stats) = try await run(provider, cover: true)
        #expect(outcome?.status == .committed && outcome?.remote?.coverURL == "http://c")
        #expect(
            provider.calls.withLock { $0 } == [
                "prepareCover", "transferCover", "prepare(cover: http://c)", "transfer(expires in long)", "commit",
            ])
        #expect(stats.apiCallsByAction == ["CreateUploadImage": 1, "CreateUploadVideo": 1, "GetMezzanineInfo": 1])
    }

    @Test func aCoverUnderTheSessionHasNoCallOfItsOwn() async throws {
        let provider = FlowProvider(profile: .tencent)
        let (outcome, _, stats) = try await run(provider, cover: true)
        #expect(outcome?.status == .committed)
        #expect(!provider.calls.withLock { $0 }.contains("prepareCover"))
        #expect(stats.apiCallsByAction == ["ApplyUpload": 1, "CommitUpload": 1])
    }

    /// An item resumed in `uploading` with the provider's first session (whose credentials expire
    /// in `firstLifetime`), the calls made so far forgotten.
    func resumedUploading(_ provider: FlowProvider) async throws -> Work {
        let session = try await provider.prepare(UploadRequest(item: item(cover: false), sourceContext: "ctx"))
        provider.calls.withLock { $0.removeAll() }
        let resume = ResumePoint(
            key: 1, state: .uploading, item: item(cover: false), sourceContext: "ctx", session: session, uploadID: "u1", parts: [:],
            md5: nil, appliedAt: nil, attempts: 1)
        return Work(key: 1, item: item(cover: false), resume: resume, sourceContext: "ctx")
    }

    /// Credentials within the margin before the transfer: refreshed in place and journalled (Alibaba);
    /// the multipart upload's session is kept, no second prepare.
    @Test func credentialsNearExpiryAreRefreshedInPlaceWhereThePlatformCan() async throws {
        let provider = FlowProvider(profile: .aliyun, firstLifetime: 30)
        let journal = MemoryJournal()
        let stats = IngestStats()
        let runner = IngestRunner(options: IngestOptions(apiRate: 1000, runID: "t"), stats: stats, journal: journal, sources: NoChanges())
        // Resumed in `uploading` with a session whose credentials expire in 30 s (< the 120 s margin).
        let work = try await resumedUploading(provider)
        let outcome = Mutex<ItemOutcome?>(nil)
        _ = try await runner.run(
            OneWork([work]), provider: provider
        ) {
            o in outcome.withLock { $0 = o }
        }
        #expect(outcome.withLock { $0 }?.status == .committed)
        #expect(provider.calls.withLock { $0 } == ["refresh", "transfer(expires in long)", "commit"])
        #expect(journal.events.withLock { $0 }.first == "credentialsRefreshed")
    }

    /// The same on a platform that cannot refresh: a new session (Tencent), never a refresh call.
    @Test func credentialsNearExpiryGetANewSessionWhereThePlatformCannotRefresh() async throws {
        let provider = FlowProvider(profile: .tencent, firstLifetime: 30)
        let journal = MemoryJournal()
        let runner = IngestRunner(
            options: IngestOptions(apiRate: 1000, runID: "t"), stats: IngestStats(), journal: journal, sources: NoChanges())
        let work = try await resumedUploading(provider)
        _ = try await runner.run(
            OneWork([work]), provider: provider
        ) { _ in }
        let calls = provider.calls.withLock { $0 }
        #expect(!calls.contains("refresh"))
        #expect(calls.first == "abandon" && calls.contains("prepare(cover: none)"), "\(calls)")
        #expect(journal.events.withLock { $0 }.first == "sessionAbandoned")
    }
}
