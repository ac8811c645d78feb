import Emulator
import Foundation
import IngestCore
import IngestEngine
import IngestTesting
import JournalSQLite
import Manifests
import ProviderTencent
import Synchronization
import Testing

/// A journal that stops the run (as a kill would) right after a chosen transition was written.
final class StoppingJournal: JournalStore, Sendable {
    let base: SQLiteJournal
    let stopAfter: @Sendable (JournalEvent, Int) -> Bool
    /// Stop (as a kill) right after processing states are journalled, before their events are confirmed.
    let stopAfterProcessing: Bool
    private let count = Counter()

    init(_ base: SQLiteJournal, stopAfterProcessing: Bool = false, stopAfter: @escaping @Sendable (JournalEvent, Int) -> Bool) {
        self.base = base
        self.stopAfter = stopAfter
        self.stopAfterProcessing = stopAfterProcessing
    }

    func begin(_ run: RunRecord) async throws { try await base.begin(run) }
    func end(runID: String, status: String, summary: String?) async throws {
        try await base.end(runID: runID, status: status, summary: summary)
    }
    func inFlight() async throws -> [ResumePoint] { try await base.inFlight() }
    func register(
        _ items: [IngestItem], manifest: ManifestFingerprint, runID: String, sourceContexts: [String], values: [String],
        reopenDuplicates: Bool
    )
        async throws -> [Registration]
    {
        try await base.register(
            items, manifest: manifest, runID: runID, sourceContexts: sourceContexts, values: values, reopenDuplicates: reopenDuplicates)
    }
    func registerInvalid(_ rows: [InvalidRow], runID: String) async throws { try await base.registerInvalid(rows, runID: runID) }
    func record(_ key: Int64, from state: ItemState, _ event: JournalEvent) async throws {
        try await base.record(key, from: state, event)
        if stopAfter(event, count.next()) { throw CancellationError() }
    }
    func records(manifestPaths: [String]?, _ body: (JournalRecord) throws -> Void) throws {
        try base.records(manifestPaths: manifestPaths, body)
    }
    func awaitingProcessing(committedSince: Int64?, after: Int64, limit: Int) async throws -> [ProcessingState] {
        try await base.awaitingProcessing(committedSince: committedSince, after: after, limit: limit)
    }
    func countAwaitingProcessing(committedSince: Int64?) async throws -> Int {
        try await base.countAwaitingProcessing(committedSince: committedSince)
    }
    func processingStates(fileIDs: [String]) async throws -> [String: ProcessingState] {
        try await base.processingStates(fileIDs: fileIDs)
    }
    func knownMedia(_ fileIDs: [String]) async throws -> Set<String> { try await base.knownMedia(fileIDs) }
    func recordProcessing(_ states: [ProcessingState]) async throws {
        try await base.recordProcessing(states)
        if stopAfterProcessing { throw CancellationError() }
    }
    func runs() async throws -> [RunRecord] { try await base.runs() }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock {
            $0 += 1; return $0
        }
    }
}

/// Work for the runner from an array.
final class ListSource: WorkSource, @unchecked Sendable {
    var works: [Work]
    init(_ works: [Work]) { self.works = works.reversed() }
    func next() async throws -> Work? { works.popLast() }
}

/// The manifest the engine tests register their items under.
let testManifest = ManifestFingerprint(name: "m.csv", path: "/m.csv", sha256: nil)

/// A runner with the tests' settings (2 in flight, a quick recovery); `replace` turns on
/// --replace-changed and --delete-replaced.
func runner(
    _ journal: any JournalStore, stats: IngestStats = IngestStats(), replace: Bool = false, procedure: String? = nil
) -> IngestRunner {
    var options = IngestOptions(concurrency: 2, apiRate: 1000, procedure: procedure, runID: "test", recoveryPause: .milliseconds(10))
    options.replaceChanged = replace
    options.deleteReplaced = replace
    return IngestRunner(options: options, stats: stats, journal: journal, sources: LocalSourceFiles())
}

/// Registers `item` as a run's feed does, and makes the work the journal asks for (nil: nothing to do).
func work(_ journal: SQLiteJournal, _ item: IngestItem) async throws -> Work? {
    let context = IngestRunner.sourceContext(for: item, runID: "test")
    let token = RowToken.make(manifest: testManifest.path, id: item.id)
    let registration = try await journal.register(
        [item], manifest: testManifest, runID: "test", sourceContexts: [context], values: [RowValues(item).encoded],
        reopenDuplicates: false)
    switch registration[0] {
    case .start(let key, let duplicates):
        return Work(key: key, item: item, sourceContext: context, duplicates: duplicates, rowToken: token)
    case .revised(let key, let media, let committed):
        return Work(key: key, item: item, sourceContext: context, rowToken: token, revised: (media, committed))
    case .replacement(let key, let replaces):
        return Work(key: key, item: item, sourceContext: context, rowToken: token, replaces: replaces)
    default: return nil
    }
}

/// The journal's resume set, as a run starts it.
func resumeWork(_ journal: SQLiteJournal) async throws -> [Work] {
    try await journal.inFlight().map {
        Work(
            key: $0.key, item: $0.item, resume: $0, sourceContext: $0.sourceContext,
            rowToken: RowToken.make(manifest: testManifest.path, id: $0.item.id))
    }
}

/// A test provider that passes every step to `base` but the ones it overrides.
protocol ForwardingProvider: VODProvider {
    associatedtype Base: VODProvider
    var base: Base { get }
}

extension ForwardingProvider {
    var name: String { base.name }
    var profile: ProviderProfile { base.profile }
    func recoverCommit(_ item: IngestItem, context: RecoveryContext) async throws -> RemoteMedia? {
        try await base.recoverCommit(item, context: context)
    }
    func prepare(_ request: UploadRequest) async throws -> UploadSession { try await base.prepare(request) }
    func transfer(
        file: FileReference, to location: ObjectLocation, session: UploadSession, checkpoint: TransferCheckpoint
    )
        async throws -> TransferResult
    {
        try await base.transfer(file: file, to: location, session: session, checkpoint: checkpoint)
    }
    func abandon(uploadID: String, at location: ObjectLocation, session: UploadSession) async {
        await base.abandon(uploadID: uploadID, at: location, session: session)
    }
    func commit(_ session: UploadSession) async throws -> RemoteMedia { try await base.commit(session) }
    func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws {
        try await base.updateMetadata(media, item: item, update: update)
    }
    func deleteMedia(fileID: String) async throws { try await base.deleteMedia(fileID: fileID) }
}

/// A provider whose CommitUpload reaches the platform but whose answer is lost (as a kill would lose it).
struct LosingCommitAnswers: ForwardingProvider {
    let base: TencentProvider
    func commit(_ session: UploadSession) async throws -> RemoteMedia {
        _ = try await base.commit(session)
        throw CancellationError()
    }
}

@Suite("resume from the journal against the emulator", .serialized)
struct ResumeTests {
    @Test(
        "a commit whose answer was lost is found again, not made twice",
        arguments: [EmulatorConfiguration.CommitPolicy.idempotent, .reject])
    func lostCommitAnswer(policy: EmulatorConfiguration.CommitPolicy) async throws {
        try await withEmulator({ $0.commitPolicy = policy }) { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "lost.mp4", size: 200_000)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = try #require(try await work(journal, item(file, title: "Lost answer \(policy)")))
            // 1. The run is stopped between CommitUpload and its journal record.
            let stats = IngestStats()
            _ = try await runner(journal, stats: stats).run(ListSource([first]), provider: LosingCommitAnswers(base: provider)) { _ in }
            #expect(stats.snapshot.interrupted == 1)
            let points = try await journal.inFlight()
            #expect(points.map(\.state) == [.committing])

            // 2. The resume commits with the same key, or finds the media when the key is spent.
            let outcomes = Mutex<[ItemOutcome]>([])
            let resumed = IngestStats()
            _ = try await runner(journal, stats: resumed).run(
                ListSource(points.map { Work(key: $0.key, item: $0.item, resume: $0, sourceContext: $0.sourceContext) }), provider: provider
            ) { outcome in outcomes.withLock { $0.append(outcome) } }
            let listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1, "committed exactly once")
            let outcome = try #require(outcomes.withLock { $0.first })
            #expect(outcome.status == .committed && outcome.remote?.fileID == listing.first?.fileID)
            #expect(outcome.recovered == (policy == .reject))
            #expect(resumed.snapshot.apiCalls <= 3, "no new ApplyUpload: a commit (and a search when the key is spent)")
            var states: [ItemState] = []
            try journal.records(manifestPaths: nil) { states.append($0.state) }
            #expect(states == [.committed])
        }
    }

    @Test func aMultipartUploadContinuesFromThePartsTheStoreHas() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "big.mp4", size: (6 << 20) + 123)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = try #require(try await work(journal, item(file, title: "Multipart resume")))
            // Stopped after the second confirmed part.
            var parts = 0
            let stopping = StoppingJournal(journal) { event, _ in
                if case .partConfirmed = event { return true }
                return false
            }
            _ = try await runner(stopping).run(ListSource([first]), provider: provider) { _ in }
            let points = try await journal.inFlight()
            #expect(points.first?.state == .uploading)
            #expect(points.first?.uploadID != nil)
            parts = points.first?.parts.count ?? 0
            #expect(parts >= 1)
            let before = try await admin(endpoint, "counters", as: EmulatorCounters.self)

            let stats = IngestStats()
            _ = try await runner(journal, stats: stats).run(
                ListSource(points.map { Work(key: $0.key, item: $0.item, resume: $0, sourceContext: $0.sourceContext) }), provider: provider
            ) { _ in }
            let after = try await admin(endpoint, "counters", as: EmulatorCounters.self)
            #expect(after.cosRequests["ListParts", default: 0] - before.cosRequests["ListParts", default: 0] == 1)
            #expect(
                after.cosRequests["InitiateMultipartUpload", default: 0] == before.cosRequests["InitiateMultipartUpload", default: 0],
                "the same upload goes on")
            #expect(
                after.cosRequests["UploadPart", default: 0] - before.cosRequests["UploadPart", default: 0] <= 7 - parts,
                "kept parts are not sent again")
            #expect(after.apiCalls["ApplyUpload", default: 0] == before.apiCalls["ApplyUpload", default: 0])
            let listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.md5 == file.md5 && listing.first?.size == Int64((6 << 20) + 123))
        }
    }

    @Test func anExpiredSessionIsReplacedOnResume() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "expired.mp4", size: 100_000)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = try #require(try await work(journal, item(file, title: "Expired")))
            let stopping = StoppingJournal(journal) { event, _ in
                if case .applied = event { return true }
                return false
            }
            _ = try await runner(stopping).run(ListSource([first]), provider: provider) { _ in }
            var point = try #require(try await journal.inFlight().first)
            #expect(point.state == .applied)
            // Its credentials run out before the resume.
            point.session?.credentials.expiresAt = Int64(Date().timeIntervalSince1970) + 5
            let stats = IngestStats()
            _ = try await runner(journal, stats: stats).run(
                ListSource([Work(key: point.key, item: point.item, resume: point, sourceContext: point.sourceContext)]), provider: provider
            ) { _ in }
            #expect(stats.snapshot.committed == 1)
            let counters = try await admin(endpoint, "counters", as: EmulatorCounters.self)
            #expect(counters.apiCalls["ApplyUpload"] == 2, "a fresh ApplyUpload")
            #expect(try await admin(endpoint, "media", as: [EmulatedMedia].self).count == 1)
        }
    }

    @Test func aFileChangedSinceValidationIsNotCommitted() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "changing.mp4", size: 50_000)
            var validated = item(file, title: "Changing")
            validated.media.modified = 1  // as seen at validation; the file on disk is newer
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let outcomes = Mutex<[ItemOutcome]>([])
            _ = try await runner(journal).run(ListSource([try #require(try await work(journal, validated))]), provider: provider) {
                outcome in
                outcomes.withLock { $0.append(outcome) }
            }
            let outcome = try #require(outcomes.withLock { $0.first })
            #expect(outcome.status == .failed && outcome.error?.code == "source.modified")
            #expect(outcome.error?.message.contains("changed since it was validated") == true)
            #expect(try await admin(endpoint, "media", as: [EmulatedMedia].self).isEmpty)
        }
    }
}

/// A provider whose metadata call fails (the platform refused it): the media stays committed.
struct FailingMetadata: ForwardingProvider {
    let base: TencentProvider
    func updateMetadata(_ media: RemoteMedia, item: IngestItem, update: MetadataUpdate) async throws {
        throw ProviderError(step: "metadata", code: "InvalidParameterValue.Tags", message: "refused for the test", disposition: .failItem)
    }
}

@Suite("the metadata call after the commit (Tencent ModifyMediaInfo), journalled")
struct MetadataStepTests {
    func described(_ file: TestFile) -> IngestItem {
        var item = item(file, title: "Metadata step")
        item.description = "set after the commit"
        item.tags = ["k1", "k2"]
        return item
    }

    @Test func aKillBetweenTheCommitAndTheMetadataCallIsFinishedOnResume() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "meta.mp4", size: 5000)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = try #require(try await work(journal, described(file)))
            let stopping = StoppingJournal(journal) { event, _ in
                if case .committed = event { return true }
                return false
            }
            _ = try await runner(stopping).run(ListSource([first]), provider: provider) { _ in }
            let points = try await journal.inFlight()
            #expect(points.count == 1 && points.first?.state == .committed && points.first?.fileID != nil, "\(points)")
            var listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.description == nil, "killed before ModifyMediaInfo")

            _ = try await runner(journal).run(ListSource(try await resumeWork(journal)), provider: provider) { _ in }
            listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.description == "set after the commit" && listing.first?.tags == ["k1", "k2"])
            #expect(try await journal.inFlight().isEmpty)
        }
    }

    @Test func aFailedMetadataCallIsReportedAndRetriedOnTheNextRun() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "meta.mp4", size: 5000)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = try #require(try await work(journal, described(file)))
            let outcomes = Mutex<[ItemOutcome]>([])
            let stats = IngestStats()
            _ = try await runner(journal, stats: stats).run(ListSource([first]), provider: FailingMetadata(base: provider)) { outcome in
                outcomes.withLock { $0.append(outcome) }
            }
            let outcome = try #require(outcomes.withLock { $0.first })
            #expect(outcome.status == .committed && outcome.metadataError?.code == "InvalidParameterValue.Tags")
            #expect(stats.snapshot.metadataFailed == 1)
            var records: [JournalRecord] = []
            try journal.records(manifestPaths: nil) { records.append($0) }
            #expect(records.first?.state == .committed && records.first?.metadataError?.contains("InvalidParameterValue.Tags") == true)

            // The next run sets it, and the report's column clears.
            _ = try await runner(journal).run(ListSource(try await resumeWork(journal)), provider: provider) { _ in }
            records = []
            try journal.records(manifestPaths: nil) { records.append($0) }
            #expect(records.first?.state == .committed && records.first?.metadataError == nil)
            let listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.tags == ["k1", "k2"])
        }
    }
}

@Suite("a committed row's new delivery: each step journalled, a kill at any of them finished on the next run", .serialized)
struct RevisionResumeTests {
    func record(_ journal: SQLiteJournal) throws -> JournalRecord? {
        var records: [JournalRecord] = []
        try journal.records(manifestPaths: nil) { records.append($0) }
        return records.first
    }

    /// Stops (as a kill) right after the first event `matches` picks.
    func stopping(_ journal: SQLiteJournal, _ matches: @escaping @Sendable (JournalEvent) -> Bool) -> StoppingJournal {
        StoppingJournal(journal) { event, _ in matches(event) }
    }

    @Test func aKillBetweenTheRevisionAndItsUpdateCallIsFinishedOnResume() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let file = try TestFile(directory, "r.mp4", size: 5000)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            var first = item(file, title: "Row")
            first.description = "old"
            first.tags = ["a", "b"]
            _ = try await runner(journal).run(ListSource([try #require(try await work(journal, first))]), provider: provider) { _ in }
            var second = first
            second.title = "Row renamed"
            second.tags = ["b", "c"]
            let revised = try #require(try await work(journal, second))
            #expect(revised.revised != nil)
            _ = try await runner(stopping(journal) { if case .revising = $0 { return true } else { return false } })
                .run(ListSource([revised]), provider: provider) { _ in }
            var listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.first?.name == "Row" && listing.first?.tags == ["a", "b"], "killed before ModifyMediaInfo")
            let points = try await journal.inFlight()
            #expect(
                points.count == 1 && points.first?.metadataUpdate?.isRevision == true && points.first?.metadataUpdate?.removedTags == ["a"])

            _ = try await runner(journal).run(ListSource(try await resumeWork(journal)), provider: provider) { _ in }
            listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.name == "Row renamed" && listing.first?.tags == ["b", "c"])
            let done = try #require(try record(journal))
            #expect(done.change == "updated" && done.changeDetail == "title, tags" && done.title == "Row renamed")
            #expect(try await journal.inFlight().isEmpty)
            // Delivered the same again: nothing to do.
            #expect(try await work(journal, second) == nil)
        }
    }

    @Test(arguments: ["replacing", "committed"])
    func aKillDuringAReplacementLosesNothingAndDeletesTheOldMediaOnce(killAfter: String) async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = item(try TestFile(directory, "v1.mp4", size: 5000), title: "Row")
            _ = try await runner(journal).run(ListSource([try #require(try await work(journal, first))]), provider: provider) { _ in }
            let old = try #require(try record(journal)?.fileID)
            // The partner delivers a new file for the row.
            let second = item(try TestFile(directory, "v2.mp4", size: 7000), title: "Row")
            let revised = try #require(try await work(journal, second))
            _ = try await runner(
                stopping(journal) { event in
                    switch event {
                    case .replacing: killAfter == "replacing"
                    case .committed: killAfter == "committed"
                    default: false
                    }
                }, replace: true
            ).run(ListSource([revised]), provider: provider) { _ in }
            var listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.contains { $0.fileID == old }, "the old media stays until the new one is committed")

            // The next run: the journal's resume set (after the commit) or the manifest's row (before it).
            var works = try await resumeWork(journal)
            if works.isEmpty, let again = try await work(journal, second) { works = [again] }
            #expect(works.count == 1)
            _ = try await runner(journal, replace: true).run(ListSource(works), provider: provider) { _ in }
            listing = try await admin(endpoint, "media", as: [EmulatedMedia].self)
            #expect(listing.count == 1 && listing.first?.fileID != old && listing.first?.size == 7000, "\(listing)")
            let done = try #require(try record(journal))
            #expect(done.change == "replaced" && done.replacedFileID == old && done.replacedDeleted && done.fileID == listing.first?.fileID)
            #expect(try await journal.inFlight().isEmpty)
        }
    }
}

@Suite("events after the upload: journalled before they are confirmed, foreign ones left alone", .serialized)
struct EventWatcherTests {
    /// A lease long enough for a loaded machine (a pull, a durable journal write, a confirm), short
    /// enough to wait out in the test that needs it to run out.
    static let lease = 6.0

    /// The platform's 30 s lease, or `lease`.
    func tune(lease: Double = 30) -> @Sendable (inout EmulatorConfiguration) -> Void {
        { c in
            c.processingDelaySeconds = 1
            c.eventLeaseSeconds = lease
        }
    }

    func watcher(_ journal: any JournalStore, _ provider: TencentProvider) -> EventWatcher {
        EventWatcher(
            journal: journal, events: provider, rules: ProviderProfile.tencent.processing,
            budget: RateBudget(rates: [:], defaultRate: 200, cap: nil))
    }

    func record(_ journal: SQLiteJournal, _ id: String) throws -> JournalRecord? {
        var found: JournalRecord? = nil
        try journal.records(manifestPaths: nil) { if $0.id == id { found = $0 } }
        return found
    }

    @Test(arguments: [false, true])
    func eventsAreMatchedByFileIdAndForeignOnesAreLeftUnlessAsked(confirmForeign: Bool) async throws {
        try await withEmulator(tune()) { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            // Someone else's upload into the same account: its event is not ours to confirm.
            let foreign = try await upload(provider, item(try TestFile(directory, "other.mp4", size: 3000), title: "Other"), context: "x")
            let mine = item(try TestFile(directory, "mine.mp4", size: 4000), title: "Mine")
            _ = try await runner(journal, procedure: "QuickTranscode").run(
                ListSource([try #require(try await work(journal, mine))]), provider: provider
            ) { _ in }
            let summary = try await watcher(journal, provider).run(EventWatchOptions(timeout: .seconds(20), confirmForeign: confirmForeign))
            #expect(summary.awaited == 1 && summary.done == 1 && summary.waiting == 0 && !summary.timedOut, "\(summary)")
            #expect(summary.foreign >= 1 && summary.foreignExamples.contains("NewFileUpload \(foreign.fileID)"), "\(summary)")
            let done = try #require(try record(journal, "Mine"))
            #expect(done.uploadEventAt != nil && done.procedureTaskID?.isEmpty == false && done.procedureStatus == "FINISH")
            let left = try await admin(endpoint, "events", as: [EmulatedEvent].self)
            #expect(!left.contains { $0.fileID == done.fileID }, "every event of ours is confirmed: \(left)")
            #expect(left.contains { $0.fileID == foreign.fileID } == !confirmForeign, "\(left)")
        }
    }

    @Test func aKillBetweenJournallingAndConfirmingLosesNoEvent() async throws {
        try await withEmulator(tune(lease: Self.lease)) { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let first = item(try TestFile(directory, "a.mp4", size: 4000), title: "A")
            _ = try await runner(journal, procedure: "QuickTranscode").run(
                ListSource([try #require(try await work(journal, first))]), provider: provider
            ) { _ in }
            let killed = watcher(StoppingJournal(journal, stopAfterProcessing: true) { _, _ in false }, provider)
            await #expect(throws: CancellationError.self) { _ = try await killed.run(EventWatchOptions(timeout: .seconds(20))) }
            // What the events said is in the journal; the platform still holds them, unconfirmed.
            #expect(try record(journal, "A")?.uploadEventAt != nil)
            #expect(
                try await admin(endpoint, "events", as: [EmulatedEvent].self).contains { $0.fileID == (try? record(journal, "A"))??.fileID }
            )

            // The next watch (another item of a later run) gets them again once their lease is out, and confirms them.
            let second = item(try TestFile(directory, "b.mp4", size: 5000), title: "B")
            _ = try await runner(journal, procedure: "QuickTranscode").run(
                ListSource([try #require(try await work(journal, second))]), provider: provider
            ) { _ in }
            try await Task.sleep(for: .seconds(Self.lease + 0.2))
            let summary = try await watcher(journal, provider).run(EventWatchOptions(timeout: .seconds(20)))
            #expect(summary.waiting == 0 && summary.foreign == 0, "\(summary)")
            #expect(try record(journal, "A")?.procedureStatus == "FINISH" && record(journal, "B")?.procedureStatus == "FINISH")
            let left = try await admin(endpoint, "events", as: [EmulatedEvent].self)
            #expect(left.isEmpty, "\(left)")
        }
    }
}

@Suite("HLS packages: the files under the media's folder, each journalled, the commit refused until all are there", .serialized)
struct HLSUploadTests {
    /// A package in `directory/pkg`: a playlist naming `count` segments.
    func makePackage(_ directory: TemporaryDirectory, count: Int) throws -> IngestItem {
        var text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        var segments: [IngestItem.Segment] = []
        for i in 0..<count {
            let file = try TestFile(directory, "pkg/s\(i).ts", size: 2000 + i)
            text += "#EXTINF:4,\ns\(i).ts\n"
            segments.append(IngestItem.Segment(relative: "s\(i).ts", file: file.reference))
        }
        let path = try directory.write("pkg/index.m3u8", text + "#EXT-X-ENDLIST\n")
        var item = ConformanceKit.item(try TestFile(directory, "unused.mp4", size: 10), title: "Package")
        item.media = FileReference(
            given: "pkg/index.m3u8", resolved: path, size: Int64(text.utf8.count + 15), modified: nil, fileExtension: "m3u8")
        item.mediaType = "m3u8"
        item.segments = segments
        return item
    }

    @Test func theCommitIsRefusedUntilEverySegmentIsThereAndTheCredentialsCoverOnlyTheFolder() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let item = try makePackage(directory, count: 2)
            let session = try await provider.prepare(UploadRequest(item: item, sourceContext: "hls"))
            let prefix = try #require(session.segmentPrefix)
            #expect(session.media.key.hasPrefix(prefix) && prefix.hasSuffix("/"))
            _ = try await provider.transfer(file: item.media, to: session.media, session: session) { _ in }
            let missing = await providerError { _ = try await provider.commit(session) }
            #expect(missing?.code == "ResourceNotFound" && missing?.message.contains("s0.ts") == true, "\(String(describing: missing))")
            for segment in item.segments! {
                let location = ObjectLocation(bucket: session.media.bucket, region: session.media.region, key: prefix + segment.relative)
                _ = try await provider.transfer(file: segment.file, to: location, session: session) { _ in }
            }
            // The credentials cover the session's folder, not the bucket.
            let elsewhere = ObjectLocation(bucket: session.media.bucket, region: session.media.region, key: "other/s0.ts")
            let refused = await providerError {
                _ = try await provider.transfer(file: item.segments![0].file, to: elsewhere, session: session) { _ in }
            }
            #expect(refused?.httpStatus == 403, "\(String(describing: refused))")
            let media = try await provider.commit(session)
            #expect(!media.fileID.isEmpty)
        }
    }

    @Test func parseStreamingManifestAnswersWhatTheLocalParseFinds() async throws {
        try await withEmulator { endpoint, _ in
            let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n#EXTINF:4,\na b.ts\n"
            let reply = try await EmulatorRouteTests.vod(
                endpoint, "ParseStreamingManifest", ["MediaManifestContent": text, "ManifestType": "m3u8"])
            let response = try #require(
                (try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["Response"] as? [String: Any])
            #expect(response["MediaSegmentSet"] as? [String] == HLSPlaylist.references(text))
            #expect(HLSPlaylist.references(text) == ["init.mp4", "hi/index.m3u8", "a b.ts"])
            let bad = try await EmulatorRouteTests.vod(endpoint, "ParseStreamingManifest", ["MediaManifestContent": "not a playlist"])
            #expect(bad.code == "InvalidParameterValue.MediaManifestContent")
        }
    }

    @Test func aResumedPackageSendsOnlyTheSegmentsNotJournalled() async throws {
        try await withEmulator { endpoint, directory in
            let provider = ProviderUnderTest.all[0].make(endpoint, endpoint.secretKey, 1 << 20)
            let journal = try SQLiteJournal(directory: directory.path + "/state")
            defer { journal.close() }
            let item = try makePackage(directory, count: 8)
            let first = try #require(try await work(journal, item))
            let killed = StoppingJournal(journal) { event, _ in
                if case .segmentConfirmed(let number, _) = event { return number == 3 }
                return false
            }
            _ = try await runner(killed).run(ListSource([first]), provider: provider) { _ in }
            let points = try await journal.inFlight()
            let kept = try #require(points.first?.segments)
            #expect(!kept.isEmpty && kept.count < 8, "\(kept)")
            let before = try await admin(endpoint, "counters", as: EmulatorCounters.self).cosRequests["PutObject"] ?? 0

            let resumed = points.map { Work(key: $0.key, item: $0.item, resume: $0, sourceContext: $0.sourceContext) }
            _ = try await runner(journal).run(ListSource(resumed), provider: provider) { _ in }
            let after = try await admin(endpoint, "counters", as: EmulatorCounters.self).cosRequests["PutObject"] ?? 0
            #expect(after - before == 8 - kept.count + 1, "the segments not journalled, and the playlist: \(after - before)")
            #expect(try await admin(endpoint, "media", as: [EmulatedMedia].self).count == 1)
            #expect(try await journal.inFlight().isEmpty)
        }
    }
}
