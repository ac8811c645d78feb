import CoreMetrics
import Foundation
import IngestCore
import Logging
import Synchronization

/// Run-wide settings of an ingest.
public struct IngestOptions: Sendable {
    /// Items in flight at once at most (`--concurrency`); with `adaptiveConcurrency`, the cap of
    /// what Little's law asks for.
    public var concurrency: Int
    public var adaptiveConcurrency: Bool
    /// API requests per second of all actions together (`--api-rate`); nil: no cap beyond the budgets.
    public var apiRate: Double?
    /// Requests per second by API action (the platform's documented rates, `--action-rate`).
    public var actionRates: [String: Double]
    /// For an action without a rate in `actionRates`; nil: only `apiRate` limits it.
    public var defaultActionRate: Double?
    /// Attempts of one step before the item fails with the step's last error.
    public var maxAttempts: Int
    /// Sessions (prepare) one item may use: a session that expires mid-way is replaced, this often.
    public var maxSessions: Int
    /// Stop taking new items after this many failures (`--max-failures`); nil: never.
    public var maxFailures: Int?
    public var procedure: String?
    public var storageRegion: String?
    public var classID: Int?
    /// Names the run in generated SourceContexts.
    public var runID: String
    /// Upload rows whose content (size and MD5) is committed already (`--allow-duplicates`).
    public var allowDuplicates: Bool
    /// Searches for a media whose commit answer was lost, and the pause between them (search
    /// indexes may lag behind CommitUpload).
    public var recoverySearches: Int
    public var recoveryPause: Duration
    /// A session whose credentials expire sooner than this is not used for a transfer: a fresh one is applied for.
    public var credentialMargin: Int64
    /// The run's upload bandwidth cap in bytes per second (`--bandwidth`), when there is one: a file
    /// that cannot be sent within its credentials' lifetime even at the whole bandwidth is refused
    /// before any byte moves, on a platform that cannot refresh them.
    public var bandwidth: Double?
    /// A committed row delivered again with a different file, or with fields only an upload
    /// carries, is uploaded anew (`--replace-changed`); without it, it is reported `changed`.
    public var replaceChanged = false
    /// The media a replacement replaces is deleted once the new one is committed (`--delete-replaced`).
    public var deleteReplaced = false

    public init(
        concurrency: Int = 8, adaptiveConcurrency: Bool = false, apiRate: Double? = nil, actionRates: [String: Double] = [:],
        defaultActionRate: Double? = nil, maxAttempts: Int = 6, maxSessions: Int = 3, maxFailures: Int? = nil,
        procedure: String? = nil, storageRegion: String? = nil, classID: Int? = nil, runID: String, allowDuplicates: Bool = false,
        recoverySearches: Int = 3, recoveryPause: Duration = .seconds(2), credentialMargin: Int64 = 120, bandwidth: Double? = nil
    ) {
        self.bandwidth = bandwidth
        self.concurrency = max(1, concurrency)
        self.adaptiveConcurrency = adaptiveConcurrency
        self.apiRate = apiRate
        self.actionRates = actionRates
        self.defaultActionRate = defaultActionRate
        self.maxAttempts = max(1, maxAttempts)
        self.maxSessions = max(1, maxSessions)
        self.maxFailures = maxFailures
        self.procedure = procedure
        self.storageRegion = storageRegion
        self.classID = classID
        self.runID = runID
        self.allowDuplicates = allowDuplicates
        self.recoverySearches = max(1, recoverySearches)
        self.recoveryPause = recoveryPause
        self.credentialMargin = credentialMargin
    }
}

/// One item for the runner: its journal key, and where an earlier run left it.
public struct Work: Sendable {
    public var key: Int64
    public var item: IngestItem
    /// Set when the item is resumed from the journal.
    public var resume: ResumePoint?
    /// SourceContext for a new item (a resumed one keeps the one it was applied with).
    public var sourceContext: String
    /// Committed items of the same size: the MD5 decides whether this one is a duplicate.
    public var duplicates: [CommittedContent]
    /// ``UploadRequest/rowToken``: the same for this row in every run on the state directory.
    public var rowToken: String
    /// A committed row delivered again with differences: its media, and what was committed.
    public var revised: (media: RemoteMedia, committed: CommittedRevision)?
    /// The media this item replaces: an unfinished replacement of an earlier run.
    public var replaces: String?

    public init(
        key: Int64, item: IngestItem, resume: ResumePoint? = nil, sourceContext: String, duplicates: [CommittedContent] = [],
        rowToken: String? = nil, revised: (media: RemoteMedia, committed: CommittedRevision)? = nil, replaces: String? = nil
    ) {
        self.revised = revised
        self.replaces = replaces
        self.rowToken = rowToken ?? RowToken.make(manifest: item.location.manifest, id: item.id)
        self.key = key
        self.item = item
        self.resume = resume
        self.sourceContext = sourceContext
        self.duplicates = duplicates
    }
}

/// Where the runner gets its work, one item at a time, in its own task (the CLI reads manifests
/// and the journal behind it).
public protocol WorkSource: AnyObject {
    func next() async throws -> Work?
}

/// What happened to one item.
public struct ItemOutcome: Sendable {
    public enum Status: String, Sendable, Codable {
        case committed
        case failed
        /// Not uploaded: its content is committed already (``duplicateOf``).
        case duplicate
        /// Committed before; its new delivery changed fields that were set on the media in place.
        case updated
        /// Committed before; its new delivery differs in a way the media cannot take in place, and
        /// was not replaced (``changeDetail`` says how).
        case changed
        /// Committed before; only its file's modification time changed (the content is the same).
        case unchanged
    }

    public var item: IngestItem
    public var status: Status
    public var remote: RemoteMedia?
    public var error: ProviderError?
    /// Attempts over all steps (1 when every step worked the first time).
    public var attempts: Int
    /// The last platform request id seen for the item.
    public var requestID: String?
    public var duplicateOf: String?
    /// Committed, found by a search after the answer to CommitUpload was lost.
    public var recovered: Bool
    /// Committed, but the metadata call after it failed (retried on the next run).
    public var metadataError: ProviderError?
    /// How a `changed` row differs, the fields an `updated` one changed, or why a replaced one was replaced.
    public var changeDetail: String?
    /// The media this item replaced (`--replace-changed`), and why deleting it failed (`--delete-replaced`).
    public var replaced: String?
    public var deleteError: ProviderError?

    public init(
        item: IngestItem, status: Status, remote: RemoteMedia? = nil, error: ProviderError? = nil, attempts: Int, requestID: String? = nil,
        duplicateOf: String? = nil, recovered: Bool = false
    ) {
        self.item = item
        self.status = status
        self.remote = remote
        self.error = error
        self.attempts = attempts
        self.requestID = requestID
        self.duplicateOf = duplicateOf
        self.recovered = recovered
    }
}

/// Counters every view of progress reads (terminal line, summary).
public final class IngestStats: Sendable {
    public struct Snapshot: Sendable, Codable {
        public var itemsTotal = 0
        public var bytesTotal: Int64 = 0
        public var committed = 0
        public var failed = 0
        /// Valid rows not attempted because the run stopped (still pending in the journal).
        public var skipped = 0
        /// Committed by an earlier run: nothing done.
        public var alreadyCommitted = 0
        /// Not uploaded: same content as a committed item.
        public var duplicates = 0
        /// Taken over from an earlier run's journal.
        public var resumed = 0
        /// Commits whose answer was lost, found again on the platform.
        public var recovered = 0
        /// In flight when the run was interrupted: a resume finishes them.
        public var interrupted = 0
        public var bytesSent: Int64 = 0
        public var apiCalls = 0
        /// API calls by action (`ApplyUpload`, `CreateUploadImage`, ...).
        public var apiCallsByAction: [String: Int] = [:]
        public var retries = 0
        public var throttles = 0
        /// Committed media whose metadata call failed (retried on the next run).
        public var metadataFailed = 0
        /// Committed rows delivered again: metadata set in place; differing but not replaced;
        /// uploaded anew; the replaced media deleted, and deletions that failed.
        public var updated = 0
        public var changed = 0
        public var replaced = 0
        public var replacedDeleted = 0
        public var deleteFailed = 0
        /// Seconds from the start of the run to its first API request.
        public var firstRequestSeconds: Double?
        /// The most items in flight at once (Little's law sets it between the floor and `--concurrency`).
        public var peakInFlight = 0
        /// Items in flight now (not in summary.json).
        public var inFlight = 0

        /// Items with nothing left to do in this run: committed, failed, or found done already.
        public var itemsDone: Int { committed + failed + alreadyCommitted + duplicates + updated + changed }
        /// Bytes handed to the network, chunk by chunk, retried ones included (not in summary.json):
        /// the live rate. `bytesSent` counts the parts the store took.
        public var bytesOnWire: Int64 = 0

        /// `items` and `bytes` in summary.json.
        enum CodingKeys: String, CodingKey {
            case itemsTotal = "items", bytesTotal = "bytes"
            case committed, failed, skipped, alreadyCommitted, duplicates, resumed, recovered, interrupted, bytesSent, apiCalls,
                apiCallsByAction,
                retries,
                throttles, firstRequestSeconds, peakInFlight, metadataFailed, updated, changed, replaced, replacedDeleted, deleteFailed
        }
    }

    private let state = Mutex(Snapshot())
    private let started = ContinuousClock.now

    public init(items: Int = 0, bytes: Int64 = 0) {
        state.withLock {
            $0.itemsTotal = items
            $0.bytesTotal = bytes
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
    public func update(_ change: (inout Snapshot) -> Void) { state.withLock { change(&$0) } }

    func apiCall(_ action: String) {
        EngineMetrics.apiCall(action)
        let elapsed = ContinuousClock.now - started
        state.withLock {
            $0.apiCalls += 1
            $0.apiCallsByAction[action, default: 0] += 1
            if $0.firstRequestSeconds == nil {
                $0.firstRequestSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
        }
    }
}

/// Stops a run from outside (a signal) or inside (too many failures): no new item is taken, those
/// in flight go on.
public final class RunControl: Sendable {
    private let stop = Mutex<IngestRunner.Stop?>(nil)

    public init() {}

    /// Stops taking items; the first reason wins.
    public func stopTaking(_ reason: IngestRunner.Stop) {
        stop.withLock { $0 = $0 ?? reason }
    }

    public var stopped: IngestRunner.Stop? { stop.withLock { $0 } }
}

/// Runs the server-upload flow for many items in parallel under the run's limits: bounded items in
/// flight, one shared API token bucket (AIMD on throttling), retries with backoff per step, a fresh
/// session when one expires, and a stop after too many failures or a fatal error.
///
/// Every transition is journalled before the side effect it announces, so a run killed at any
/// instant resumes: an item continues where the journal (and the store's ListParts) says it was,
/// and a commit whose answer was lost is found on the platform instead of being made twice.
/// Cancellation stops the run and is never recorded as an item failure.
public struct IngestRunner: Sendable {
    public let options: IngestOptions
    public let budget: RateBudget
    public let concurrency: ConcurrencyController
    public let stats: IngestStats
    public let journal: any JournalStore
    public let sources: any SourceFiles
    public let control: RunControl
    /// Every retry, throttle, session renewal, credential refresh, recovered commit and failure
    /// (notice and above); commits, resumes and outcomes at info, each step's attempt at debug.
    /// An item's events carry `item.id`, `manifest` and `line`.
    public let logger: Logger

    public init(
        options: IngestOptions, stats: IngestStats, journal: any JournalStore, sources: any SourceFiles, control: RunControl = RunControl(),
        logger: Logger = Logger(label: "vodingest.engine")
    ) {
        self.options = options
        self.budget = RateBudget(rates: options.actionRates, defaultRate: options.defaultActionRate, cap: options.apiRate)
        self.concurrency = ConcurrencyController(cap: options.concurrency, adaptive: options.adaptiveConcurrency)
        self.stats = stats
        self.journal = journal
        self.sources = sources
        self.control = control
        self.logger = logger
    }

    /// The logger of the item the current task works on (its metadata names the row).
    @TaskLocal static var itemLogger: Logger?
    private var log: Logger { Self.itemLogger ?? logger }

    /// A provider error's fields as log metadata: `error.code`, `vod.request_id`, `http.status`, `disposition`.
    static func metadata(_ error: ProviderError) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "step": "\(error.step)", "error.code": "\(error.code)", "error.message": "\(error.message)",
            "disposition": "\(error.disposition)",
        ]
        if let id = error.requestID { metadata["vod.request_id"] = "\(id)" }
        if let status = error.httpStatus { metadata["http.status"] = "\(status)" }
        return metadata
    }

    /// Why the run stopped taking items, if it did.
    public struct Stop: Sendable {
        public var reason: String
        public var fatal: ProviderError?
        /// Stopped by a signal (SIGINT, SIGTERM).
        public var signal: Int32?

        public init(reason: String, fatal: ProviderError? = nil, signal: Int32? = nil) {
            self.reason = reason
            self.fatal = fatal
            self.signal = signal
        }
    }

    /// Uploads the work of `source`; `onOutcome` gets each item's outcome as it ends. Items that
    /// are cancelled get none (they stay in flight in the journal).
    /// - Returns: why the run stopped early, or nil when every item was attempted.
    public func run(
        _ source: some WorkSource, provider: any VODProvider, onOutcome: @escaping @Sendable (ItemOutcome) async -> Void
    ) async throws -> Stop? {
        // The item rate the API budget allows, for Little's law.
        let actions = provider.profile.actions
        var perItem = [actions.prepare: 1]
        perItem[actions.complete, default: 0] += 1
        let itemRate = budget.itemRate(perItem)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            while true {
                while running >= concurrency.limit(itemRate: itemRate) {
                    try await group.next()
                    running -= 1
                    let now = running
                    stats.update { $0.inFlight = now }
                }
                guard control.stopped == nil, let work = try await source.next() else { break }
                running += 1
                concurrency.running(running)
                let now = running
                stats.update { $0.inFlight = now }
                group.addTask {
                    let outcome: ItemOutcome
                    let started = ContinuousClock.now
                    let waits = WaitMeter()
                    var log = logger
                    log[metadataKey: "item.id"] = "\(work.item.id)"
                    log[metadataKey: "manifest"] = "\(work.item.location.manifest)"
                    log[metadataKey: "line"] = "\(work.item.location.line)"
                    if work.resume != nil {
                        log.info("resuming an item an earlier run left in flight", metadata: ["state": "\(work.resume!.state)"])
                    }
                    do {
                        outcome = try await Self.$itemLogger.withValue(log) {
                            try await Self.$budgetWaits.withValue(waits) { try await ingest(work, provider: provider) }
                        }
                    } catch is CancellationError {
                        log.info("item interrupted; the journal keeps where it was")
                        stats.update { $0.interrupted += 1 }
                        return
                    }
                    // The time an item takes, without the time it queued for the API budget (that
                    // time is the budget working, not a round trip more files in flight would hide).
                    let elapsed = ContinuousClock.now - started - waits.total
                    concurrency.finished(
                        seconds: max(0, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18),
                        bytes: work.item.media.size ?? 0)
                    Self.logOutcome(outcome, log)
                    if outcome.status == .failed { noteFailure(outcome) }
                    await onOutcome(outcome)
                }
            }
            try await group.waitForAll()
            let peak = concurrency.peak
            stats.update { $0.peakInFlight = Swift.max($0.peakInFlight, peak) }
            return control.stopped
        }
    }

    /// An item's end: failures at error, the rest at info.
    static func logOutcome(_ outcome: ItemOutcome, _ log: Logger) {
        var metadata: Logger.Metadata = ["status": "\(outcome.status.rawValue)", "attempts": "\(outcome.attempts)"]
        if let id = outcome.remote?.fileID { metadata["media.id"] = "\(id)" }
        if outcome.status == .failed, let error = outcome.error {
            metadata.merge(Self.metadata(error)) { _, new in new }
            log.error("item failed", metadata: metadata)
        } else {
            if outcome.recovered { metadata["recovered"] = "true" }
            if let detail = outcome.changeDetail { metadata["change_detail"] = "\(detail)" }
            log.info("item done", metadata: metadata)
        }
        if let error = outcome.metadataError {
            log.warning("metadata call failed; the next run makes it again", metadata: Self.metadata(error))
        }
        if let error = outcome.deleteError {
            log.warning("deleting the replaced media failed; the next run tries again", metadata: Self.metadata(error))
        }
    }

    /// Stops the run on a fatal error, on too many failures, or when nothing reaches the platform.
    private func noteFailure(_ outcome: ItemOutcome) {
        let counts = stats.snapshot
        let failures = counts.failed
        if let error = outcome.error, error.disposition == .abortRun {
            control.stopTaking(Stop(reason: "the platform refused the account or the request: \(error)", fatal: error))
        } else if let error = outcome.error, error.isUnreachable, counts.committed == 0,
            failures >= Swift.min(options.concurrency, Self.unreachableAfter)
        {
            control.stopTaking(
                Stop(
                    reason: "the platform cannot be reached: \(failures) items failed with \(error.code) (\(error.message)) "
                        + "and none was committed; check the endpoint and the network, then run again"))
        } else if let max = options.maxFailures, failures >= max {
            control.stopTaking(Stop(reason: "\(failures) items failed (--max-failures \(max))"))
        }
        if let stop = control.stopped, stop.signal == nil {
            logger.error("the run stops taking new items", metadata: ["reason": "\(stop.reason)"])
        }
    }

    /// Items failing with network errors, none committed, after which the run stops as unreachable.
    static let unreachableAfter = 3
    /// A follow-up call's failure (the metadata call, a replaced media's deletion) as the journal
    /// records it: the platform's error, or the cause of a session to renew; anything else (an
    /// abort, a cancellation) is thrown on.
    static func followUpFailure(_ error: any Error) throws -> ProviderError {
        if let failure = error as? ProviderError, failure.disposition != .abortRun { return failure }
        if let renew = error as? RenewSession { return renew.cause }
        throw error
    }

    /// Files of one HLS package sent at once.
    static let segmentConcurrency = 4

    func name(of provider: any VODProvider) -> String { provider.profile.displayName }

    /// A SourceContext naming the run and the item, unique per item: it finds an upload again when
    /// the answer to its CommitUpload was lost.
    public static func sourceContext(for item: IngestItem, runID: String) -> String {
        if let given = item.sourceContext { return given }
        let token = "vodingest:\(runID):\(item.id)"
        if token.count <= 250 { return token }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across runs
        for b in item.id.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "vodingest:\(runID):id-fnv1a-\(String(hash, radix: 16))"
    }

    /// A file that cannot reach storage before its session's credentials expire, even with the run's
    /// whole bandwidth cap, on a platform that cannot refresh them (Tencent): it would start over
    /// at byte 0 with every new session and never finish.
    func outlivesCredentials(_ item: IngestItem, _ session: UploadSession, profile: ProviderProfile) -> ProviderError? {
        guard profile.credentialRenewal == .newSession, let bandwidth = options.bandwidth, bandwidth > 0, let size = item.media.size else {
            return nil
        }
        let needed = Double(size + (item.cover?.size ?? 0)) / bandwidth
        let lifetime = Double(session.credentials.expiresAt) - Date().timeIntervalSince1970
        guard needed > lifetime else { return nil }
        return ProviderError(
            step: "upload", code: "transfer.outlives-credentials",
            message:
                "\(item.media.given) needs at least \(Int(needed.rounded())) s at --bandwidth \(Int(bandwidth)) B/s, and \(profile.displayName)'s "
                + "upload credentials last \(Int(lifetime)) s and cannot be refreshed; nothing was sent. Raise --bandwidth or upload it on its own",
            requestID: session.requestID, disposition: .failItem)
    }

    /// Counts a storage request the provider retries itself with the run's retries.
    private var countRetry: @Sendable (ProviderError) -> Void {
        let stats = self.stats
        let fallback = logger
        return { error in
            (Self.itemLogger ?? fallback).notice(
                error.disposition == .throttled ? "storage throttled; retrying" : "storage request failed; retrying",
                metadata: Self.metadata(error))
            EngineMetrics.retried(error.code)
            if error.disposition == .throttled { EngineMetrics.throttled("storage") }
            stats.update {
                $0.retries += 1
                if error.disposition == .throttled { $0.throttles += 1 }
            }
        }
    }

    /// A step that must start over from prepare.
    private struct RenewSession: Error { let cause: ProviderError }

    /// One item's journal position, shared by the item's tasks (its parts report concurrently).
    final class Position: Sendable {
        let key: Int64
        let journal: any JournalStore
        private let current: Mutex<ItemState>

        init(key: Int64, state: ItemState, journal: any JournalStore) {
            self.key = key
            self.journal = journal
            self.current = Mutex(state)
        }

        var state: ItemState { current.withLock { $0 } }

        /// Journals `event` (durably), then moves.
        func record(_ event: JournalEvent) async throws {
            let from = state
            try await journal.record(key, from: from, event)
            if let next = ItemLifecycle.next(from, event) { current.withLock { $0 = next } }
        }
    }

    func ingest(_ work: Work, provider: any VODProvider) async throws -> ItemOutcome {
        let profile = provider.profile
        let actions = profile.actions
        let item = work.item
        let position = Position(key: work.key, state: work.resume?.state ?? (work.revised == nil ? .pending : .committed), journal: journal)
        let token = work.resume?.sourceContext ?? work.sourceContext
        var session = work.resume?.session
        var uploadID = work.resume?.uploadID
        // The whole file's MD5 and CRC-64 as computed here (never the manifest's claim, which is checked against them).
        var md5 = work.resume?.md5
        var crc64 = work.resume?.crc64
        var appliedAt = work.resume?.appliedAt
        var attempts = 0
        var lastRequestID: String? = nil
        var sessions = 0
        var renewCause: ProviderError? = nil
        // A CommitUpload may have reached the platform (its answer lost): look before applying again.
        var commitMaybeSent = position.state == .committing
        // What the platform keeps to find the media again: what an earlier session sent, else the row's token.
        var rowToken = work.resume?.session?.sourceContext ?? work.rowToken
        func recover() async throws -> RemoteMedia? {
            let context = RecoveryContext(
                sourceContext: token, rowToken: rowToken, md5: md5, appliedAt: appliedAt, session: session,
                searches: options.recoverySearches, pause: options.recoveryPause,
                pace: { action in
                    try await acquire(action)
                    stats.apiCall(action)
                })
            return try await provider.recoverCommit(item, context: context)
        }
        /// Refreshes the session's credentials in place (journalled), for platforms that can.
        @Sendable func refreshed(_ old: UploadSession) async throws -> UploadSession {
            var tries = 0
            let fresh = try await step(action: actions.refresh ?? "refresh", attempts: &tries) { try await provider.refresh(old) }
            try await position.record(.credentialsRefreshed(fresh))
            log.notice(
                "upload credentials refreshed",
                metadata: ["action": "\(actions.refresh ?? "refresh")", "vod.request_id": "\(fresh.requestID)"])
            return fresh
        }
        if work.resume != nil { stats.update { $0.resumed += 1 } }
        // The HLS package's files the store has under the current session.
        let sentSegments = Mutex(work.resume?.segments ?? [])

        func fail(_ error: ProviderError) async throws -> ItemOutcome {
            try await position.record(.failed(code: error.code, message: "\(error.step): \(error.message)", attempts: attempts))
            stats.update { $0.failed += 1 }
            return ItemOutcome(item: item, status: .failed, error: error, attempts: attempts, requestID: error.requestID ?? lastRequestID)
        }
        /// One call after the commit, journalled: `done` once it is made; a failure is journalled
        /// by `failed` (the media stays committed, the next run makes the call again) and returned.
        func followUp(
            _ action: String, done: JournalEvent, failed: (_ code: String, _ message: String) -> JournalEvent,
            _ call: () async throws -> Void
        ) async throws -> ProviderError? {
            do {
                try await step(action: action, attempts: &attempts, call)
                try await position.record(done)
                return nil
            } catch {
                let failure = try Self.followUpFailure(error)
                try await position.record(failed(failure.code, failure.message))
                return failure
            }
        }
        /// The metadata call after the commit (Tencent ModifyMediaInfo), or a revision's update
        /// (ModifyMediaInfo, UpdateVideoInfo).
        func applyMetadata(_ remote: RemoteMedia, _ update: MetadataUpdate) async throws -> ProviderError? {
            guard let action = update.isRevision ? actions.update : actions.metadata else { return nil }
            let done: JournalEvent = update.isRevision ? .revisionApplied(RowValues(item), fields: update.fields) : .metadataApplied
            let failure = try await followUp(action, done: done, failed: { .metadataFailed(code: $0, message: $1) }) {
                try await provider.updateMetadata(remote, item: item, update: update)
            }
            if failure != nil { stats.update { $0.metadataFailed += 1 } }
            return failure
        }
        // The media a replacement replaces, and whether it goes once the new one is committed (the
        // journal keeps that intent; a replacement retried in this run follows this run's option).
        var replacedFileID = work.resume?.replacedFileID ?? work.replaces
        var deleteReplaced = work.resume?.deleteReplaced ?? (work.replaces != nil && options.deleteReplaced)
        /// A replacement's token names the row and the media it replaces: the old media keeps the
        /// row's own (Alibaba: its ReferenceId), and a lost create of the new one is found by this one.
        func replacementToken(_ old: String) -> String { RowToken.make(manifest: work.rowToken, id: old) }
        if work.resume?.session == nil, let old = replacedFileID { rowToken = replacementToken(old) }
        /// Deletes the replaced media (`--delete-replaced`); a failure is retried by the next run.
        func deleteReplacedMedia(_ fileID: String) async throws -> ProviderError? {
            let failure = try await followUp(
                actions.delete ?? "delete", done: .replacedDeleted, failed: { .replacedDeleteFailed(code: $0, message: $1) }
            ) { try await provider.deleteMedia(fileID: fileID) }
            stats.update { if failure == nil { $0.replacedDeleted += 1 } else { $0.deleteFailed += 1 } }
            return failure
        }
        /// What follows a commit: the metadata call, then the replaced media's deletion.
        func followUps(_ outcome: inout ItemOutcome, _ remote: RemoteMedia, metadata: MetadataUpdate?) async throws {
            if let metadata { outcome.metadataError = try await applyMetadata(remote, metadata) }
            if let old = replacedFileID {
                outcome.replaced = old
                if deleteReplaced { outcome.deleteError = try await deleteReplacedMedia(old) }
            }
        }
        func committed(_ remote: RemoteMedia, recovered: Bool) async throws -> ItemOutcome {
            // The metadata call is journalled as pending with the commit, so a kill between the two is finished on resume.
            let afterUpload = MetadataUpdate.afterUpload(item, profile: profile)
            let metadata = actions.metadata != nil && !afterUpload.fields.isEmpty
            try await position.record(.committed(remote, recovered: recovered, metadataPending: metadata))
            stats.update {
                $0.committed += 1
                if recovered { $0.recovered += 1 }
            }
            var outcome = ItemOutcome(
                item: item, status: .committed, remote: remote, attempts: attempts, requestID: remote.requestID, recovered: recovered)
            try await followUps(&outcome, remote, metadata: metadata ? afterUpload : nil)
            return outcome
        }
        // Committed by an earlier run, its metadata call (or the replaced media's deletion) still to be made (both are idempotent).
        if position.state == .committed, let resume = work.resume, let fileID = resume.fileID {
            let remote = RemoteMedia(fileID: fileID, mediaURL: nil, coverURL: nil, requestID: "")
            let update = resume.metadataPending ? (resume.metadataUpdate ?? MetadataUpdate.afterUpload(item, profile: profile)) : nil
            var outcome = ItemOutcome(item: item, status: update?.isRevision == true ? .updated : .committed, remote: remote, attempts: 0)
            try await followUps(&outcome, remote, metadata: update)
            if outcome.metadataError == nil {
                stats.update {
                    if update?.isRevision == true { $0.updated += 1 } else { $0.committed += 1 }
                }
            } else {
                outcome.status = .committed
            }
            return outcome
        }
        // A committed row delivered again, with differences.
        if position.state == .committed, let revised = work.revised {
            var revision = Revision.between(revised.committed, item, profile: profile)
            if revision.timeOnly {
                // Only the time differs: read the file once to tell whether its content did.
                let digest: (md5: String, crc64: String)
                do {
                    digest = try await sources.digest(of: item.media)
                } catch let error as ProviderError {
                    return try await fail(error)
                }
                let was = CommittedContent(fileID: revised.media.fileID, md5: revised.committed.md5, crc64: revised.committed.crc64)
                revision.timeOnly = false
                if was.md5 == nil && was.crc64 == nil || was.matches(md5: digest.md5, crc64: digest.crc64) {
                    try await position.record(.contentConfirmed(modified: item.media.modified))
                } else {
                    revision.contentChange = "its content changed (same size, new modification time, new checksum)"
                }
            }
            if revision.contentChange != nil || !revision.fixed.isEmpty {
                var reasons: [String] = []
                if let content = revision.contentChange { reasons.append("the file changed: " + content) }
                if !revision.fixed.isEmpty {
                    reasons.append(
                        revision.fixed.joined(separator: ", ") + " changed, which \(profile.displayName) takes only with an upload")
                }
                let reason = reasons.joined(separator: "; ")
                guard options.replaceChanged else {
                    try await position.record(.changeNoted(reason))
                    stats.update { $0.changed += 1 }
                    var outcome = ItemOutcome(item: item, status: .changed, remote: revised.media, attempts: 0)
                    outcome.changeDetail = reason
                    return outcome
                }
                try await position.record(
                    .replacing(
                        item: item, sourceContext: token, values: revision.new, deleteReplaced: options.deleteReplaced, reason: reason))
                replacedFileID = revised.media.fileID
                deleteReplaced = options.deleteReplaced
                rowToken = replacementToken(revised.media.fileID)
                stats.update { $0.replaced += 1 }
                // On to the upload, from pending.
            } else if !revision.updatable.isEmpty {
                let update = MetadataUpdate.revising(revision)
                try await position.record(.revising(update, item: item))
                var outcome = ItemOutcome(item: item, status: .updated, remote: revised.media, attempts: 0)
                outcome.changeDetail = update.fields.joined(separator: ", ")
                outcome.metadataError = try await applyMetadata(revised.media, update)
                if outcome.metadataError == nil { stats.update { $0.updated += 1 } } else { outcome.status = .committed }
                return outcome
            } else {
                stats.update { $0.alreadyCommitted += 1 }
                return ItemOutcome(item: item, status: .unchanged, remote: revised.media, attempts: 0)
            }
        }
        @Sendable func sourceChanged(_ file: FileReference, sending: Bool = false) -> ProviderError? {
            sources.change(of: file).map { change in
                let when = sending ? "during its upload" : "since it was validated"
                return ProviderError(
                    step: "source", code: change.code,
                    message:
                        "\(file.given) changed \(when): \(change.detail); nothing was committed for it"
                        + (sending ? " and what was sent of it was abandoned" : "")
                        + ". Check the file (or fix its row), then run the same command again",
                    disposition: .failItem)
            }
        }
        /// A transfer of `file`; a failure to read the file becomes what happened to it, for the row.
        @Sendable func sending<T>(_ file: FileReference, _ body: () async throws -> T) async throws -> T {
            do {
                return try await body()
            } catch let error as ProviderError where error.code == "file.unreadable" {
                throw sourceChanged(file, sending: true)
                    ?? ProviderError(
                        step: "source", code: "source.unreadable",
                        message:
                            "\(file.given) could not be read during its upload (\(error.message)); nothing was committed for it "
                            + "and what was sent of it was abandoned. Check the file and its disk, then run the same command again",
                        disposition: .failItem)
            }
        }

        // A new row whose content is committed already is not uploaded again.
        // Its size matches a committed item's: read it once to compare (the price of not sending it twice).
        // (Not an HLS package: two packages may have the same playlist and other segments.)
        if position.state == .pending, !work.duplicates.isEmpty, !options.allowDuplicates, item.segments == nil {
            let digest: (md5: String, crc64: String)
            do {
                digest = try await sources.digest(of: item.media)
            } catch let error as ProviderError {
                return try await fail(error)
            }
            if let match = work.duplicates.first(where: { $0.matches(md5: digest.md5, crc64: digest.crc64) }) {
                try await position.record(.duplicate(of: match.fileID, md5: digest.md5))
                stats.update { $0.duplicates += 1 }
                return ItemOutcome(item: item, status: .duplicate, attempts: 0, duplicateOf: match.fileID)
            }
        }

        while true {
            do {
                // 1. A session: the journalled one while its credentials last, else a fresh one.
                if position.state == .applied || position.state == .uploading {
                    let now = Int64(Date().timeIntervalSince1970)
                    if let old = session, old.credentials.expiresAt < now + options.credentialMargin,
                        profile.credentialRenewal == .refreshInPlace
                    {
                        // Same session, same object, new credentials: a multipart upload goes on.
                        session = try await refreshed(old)
                    } else if session == nil || session!.credentials.expiresAt < now + options.credentialMargin {
                        // Best effort, and only while the credentials still work.
                        if let old = session, old.credentials.expiresAt > now, let id = uploadID {
                            await provider.abandon(uploadID: id, at: old.media, session: old)
                        }
                        try await position.record(.sessionAbandoned)
                        session = nil
                        uploadID = nil
                    }
                } else if position.state == .committing && session == nil {
                    if let found = try await recover() {
                        return try await committed(found, recovered: actions.completeCommits)
                    }
                    try await position.record(.sessionAbandoned)
                } else if position.state == .uploaded && session == nil {
                    try await position.record(.sessionAbandoned)
                }
                if position.state == .pending {
                    sentSegments.withLock { $0.removeAll() }  // a new session is a new storage folder
                    sessions += 1
                    if sessions > options.maxSessions, let cause = renewCause { return try await fail(cause) }
                    if let changed = sourceChanged(item.media) ?? item.cover.flatMap { sourceChanged($0) } {
                        return try await fail(changed)
                    }
                    var request = UploadRequest(
                        item: item, sourceContext: token, procedure: options.procedure, storageRegion: options.storageRegion,
                        classID: options.classID, rowToken: rowToken)
                    request.replaces = replacedFileID
                    // A platform that takes covers on their own: the cover first, its URL in the create call.
                    if profile.coverUpload == .ownUpload, let cover = item.cover {
                        let coverRequest = request
                        let upload = try await step(action: actions.cover ?? "cover", attempts: &attempts) {
                            try await provider.prepareCover(coverRequest)
                        }
                        lastRequestID = upload.requestID
                        _ = try await sending(cover) {
                            try await step(action: nil, attempts: &attempts) {
                                try await provider.transferCover(
                                    file: cover, upload: upload,
                                    checkpoint: TransferCheckpoint(
                                        progress: { bytes in
                                            stats.update { $0.bytesSent += bytes }
                                            EngineMetrics.bytesSent.increment(by: Int64(bytes))
                                        }, retrying: countRetry))
                            }
                        }
                        if let changed = sourceChanged(cover, sending: true) { return try await fail(changed) }
                        request.coverURL = upload.url
                    }
                    let prepareRequest = request
                    let fresh = try await step(action: actions.prepare, attempts: &attempts) { try await provider.prepare(prepareRequest) }
                    lastRequestID = fresh.requestID
                    try await position.record(.applied(fresh, item: item, sourceContext: fresh.sourceContext ?? token))
                    rowToken = fresh.sourceContext ?? rowToken
                    if let refusal = outlivesCredentials(item, fresh, profile: profile) { return try await fail(refusal) }
                    session = fresh
                    uploadID = nil
                    appliedAt = Int64(Date().timeIntervalSince1970)
                    commitMaybeSent = false
                }
                guard let current = session else { continue }

                // 2. The bytes: an HLS package's files, the media (continuing a journalled multipart
                // upload), then cover.
                if position.state == .applied || position.state == .uploading {
                    // Resumed or not: nothing is sent of a file that is not what this run validated.
                    if let changed = sourceChanged(item.media) { return try await fail(changed) }
                    var resumeID = uploadID
                    let latest = Mutex(current)
                    // In-place refresh while parts are in flight, journalled like any other.
                    let refresh: (@Sendable () async throws -> TemporaryCredentials)? =
                        profile.credentialRenewal == .refreshInPlace
                        ? { @Sendable in
                            let fresh = try await refreshed(latest.withLock { $0 })
                            latest.withLock { $0 = fresh }
                            return fresh.credentials
                        } : nil
                    let margin = options.credentialMargin
                    if let segments = item.segments, !segments.isEmpty {
                        // Before the playlist: Alibaba completes the upload with the playlist's write.
                        guard let prefix = current.segmentPrefix else {
                            return try await fail(
                                ProviderError(
                                    step: "upload", code: "hls.no-prefix",
                                    message:
                                        "\(name(of: provider)) gave the session no folder for the package's files; it cannot be uploaded",
                                    disposition: .failItem))
                        }
                        let pending = segments.indices.filter { !sentSegments.withLock { $0 }.contains($0) }
                        let sessionNow: @Sendable () -> UploadSession = { latest.withLock { $0 } }
                        let markSent: @Sendable (Int) -> Void = { index in _ = sentSegments.withLock { $0.insert(index) } }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            var queue = pending.makeIterator()
                            func add() -> Bool {
                                guard let index = queue.next() else { return false }
                                let segment = segments[index]
                                group.addTask {
                                    if let changed = sourceChanged(segment.file) { throw changed }
                                    let location = ObjectLocation(
                                        bucket: current.media.bucket, region: current.media.region, key: prefix + segment.relative,
                                        endpoint: current.media.endpoint)
                                    var tries = 0
                                    let sent = try await sending(segment.file) {
                                        try await step(action: nil, attempts: &tries) {
                                            try await provider.transfer(
                                                file: segment.file, to: location, session: sessionNow(),
                                                checkpoint: TransferCheckpoint(
                                                    progress: { bytes in
                                                        stats.update { $0.bytesSent += bytes }
                                                        EngineMetrics.bytesSent.increment(by: Int64(bytes))
                                                    }, retrying: countRetry,
                                                    refreshCredentials: refresh, credentialMargin: margin))
                                        }
                                    }
                                    if let changed = sourceChanged(segment.file, sending: true) { throw changed }
                                    try await position.record(.segmentConfirmed(number: index, crc64: sent.crc64.map(String.init) ?? ""))
                                    markSent(index)
                                }
                                return true
                            }
                            // The first alone: its record moves the item to `uploading`, which the others then keep.
                            var width = position.state == .applied ? 1 : Self.segmentConcurrency
                            for _ in 0..<width where add() {}
                            while try await group.next() != nil {
                                for _ in 0..<(Self.segmentConcurrency - width + 1) where add() {}
                                width = Self.segmentConcurrency
                            }
                        }
                    }
                    let result = try await sending(item.media) {
                        try await step(action: nil, attempts: &attempts) {
                            let checkpoint = TransferCheckpoint(
                                uploadID: resumeID, wantsMD5: item.md5 != nil,
                                multipartStarted: { id in try await position.record(.multipartStarted(uploadID: id)) },
                                partConfirmed: { number, etag, size in
                                    try await position.record(.partConfirmed(number: number, etag: etag, size: size))
                                },
                                progress: { bytes in
                                    stats.update { $0.bytesSent += bytes }
                                    EngineMetrics.bytesSent.increment(by: Int64(bytes))
                                }, retrying: countRetry,
                                refreshCredentials: refresh, credentialMargin: margin)
                            // A retry after a failure starts a new upload (the failed one was aborted),
                            // unless the platform refreshes credentials in place: the store keeps its parts.
                            if refresh == nil { resumeID = nil }
                            return try await provider.transfer(
                                file: item.media, to: current.media, session: latest.withLock { $0 }, checkpoint: checkpoint)
                        }
                    }
                    session = latest.withLock { $0 }
                    if let cover = item.cover, let location = current.cover {
                        let now = latest.withLock { $0 }
                        if let changed = sourceChanged(cover) { return try await fail(changed) }
                        _ = try await sending(cover) {
                            try await step(action: nil, attempts: &attempts) {
                                try await provider.transfer(
                                    file: cover, to: location, session: now, checkpoint: TransferCheckpoint(retrying: countRetry))
                            }
                        }
                        if let changed = sourceChanged(cover, sending: true) { return try await fail(changed) }
                    }
                    // The bytes sent must be the bytes validated: a file changed mid-way is not committed.
                    if let changed = sourceChanged(item.media, sending: true) { return try await fail(changed) }
                    let sentCRC = result.crc64.map { String($0) }
                    if let expected = crc64, let sent = sentCRC, expected != sent {
                        return try await fail(
                            ProviderError(
                                step: "source", code: "source.modified",
                                message:
                                    "\(item.media.given) has CRC-64 \(sent) now, not \(expected) as when it was first sent; nothing was committed for it",
                                disposition: .failItem))
                    }
                    if let claimed = item.md5, let sent = result.md5, claimed.lowercased() != sent {
                        return try await fail(
                            ProviderError(
                                step: "source", code: "source.checksum-mismatch",
                                message:
                                    "\(item.media.given) has MD5 \(sent), not the manifest's \(claimed); nothing was committed for it. "
                                    + "Fix the manifest or the file (validate --checksums finds these before a run)",
                                disposition: .failItem))
                    }
                    md5 = result.md5 ?? md5
                    crc64 = sentCRC ?? crc64
                    try await position.record(.uploaded(md5: md5, crc64: crc64))
                }

                // 3. The commit, recorded as intended first: a resume retries it with the same key.
                if position.state == .uploaded { try await position.record(.committing) }
                do {
                    let completing = session ?? current
                    let remote = try await step(action: actions.complete, attempts: &attempts) {
                        // From here on, an error does not prove the platform did not commit.
                        commitMaybeSent = actions.completeCommits
                        return try await provider.commit(completing)
                    }
                    return try await committed(remote, recovered: false)
                } catch {
                    // Any failure after the commit was sent: look on the platform before deciding.
                    let cause: ProviderError
                    if let failed = error as? ProviderError, failed.disposition != .abortRun {
                        cause = failed
                    } else if let renew = error as? RenewSession {
                        cause = renew.cause
                    } else {
                        throw error
                    }
                    if commitMaybeSent {
                        log.notice("commit answer lost; looking for the media on the platform", metadata: Self.metadata(cause))
                    }
                    if commitMaybeSent, let found = try await recover() {
                        log.notice("commit recovered: the media is on the platform", metadata: ["media.id": "\(found.fileID)"])
                        return try await committed(found, recovered: true)
                    }
                    // Not on the platform: the key is unusable (expired or refused); start over.
                    throw RenewSession(cause: cause)
                }
            } catch let renew as RenewSession {
                renewCause = renew.cause
                var metadata = Self.metadata(renew.cause)
                metadata["sessions"] = "\(sessions)"
                log.notice(
                    sessions >= options.maxSessions
                        ? "upload session expired; no session is left" : "upload session expired; starting a new one",
                    metadata: metadata)
                if position.state.isInFlight {
                    if profile.credentialRenewal == .newSession, let old = session, let id = uploadID {
                        await provider.abandon(uploadID: id, at: old.media, session: old)
                    }
                    try await position.record(.sessionAbandoned)
                }
                session = nil
                uploadID = nil
                if sessions >= options.maxSessions { return try await fail(renew.cause) }
            } catch let error as ProviderError {
                return try await fail(error)
            }
        }
    }

    /// The API budget's wait for one request of `action`, added to the item's ``budgetWaits``.
    private func acquire(_ action: String) async throws {
        let start = ContinuousClock.now
        try await budget.acquire(action)
        Self.budgetWaits?.add(ContinuousClock.now - start)
    }

    /// Time the current item spent waiting for the API budget.
    @TaskLocal static var budgetWaits: WaitMeter?

    /// Runs one step with retries: transient errors back off and retry, throttling also slows the
    /// shared rate, an expired session starts the item over, anything else ends the item.
    /// - Parameter action: the API action the step calls (rate-limited and counted), nil for a transfer.
    private func step<T>(action: String?, attempts: inout Int, _ body: () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            tries += 1
            attempts += 1
            if let action {
                try await acquire(action)
                stats.apiCall(action)
            }
            do {
                let value = try await body()
                if let action { await budget.succeeded(action) }
                return value
            } catch let error as ProviderError {
                var metadata = Self.metadata(error)
                metadata["attempt"] = "\(tries)"
                if let action { metadata["action"] = "\(action)" }
                switch error.disposition {
                case .retry, .throttled:
                    if error.disposition == .throttled {
                        // Only the API's answer slows the API rate; storage throttling is counted.
                        if let action { await budget.throttled(action) }
                        stats.update { $0.throttles += 1 }
                        EngineMetrics.throttled(action ?? "storage")
                    }
                    guard tries < options.maxAttempts else {
                        log.warning("giving up after the last attempt", metadata: metadata)
                        throw error
                    }
                    stats.update { $0.retries += 1 }
                    EngineMetrics.retried(error.code)
                    let delay = Backoff.delay(attempt: tries)
                    metadata["retry_in"] = "\(delay)"
                    log.notice(
                        error.disposition == .throttled ? "throttled; slowing down and retrying" : "request failed; retrying",
                        metadata: metadata)
                    try await Task.sleep(for: delay)
                case .renewSession:
                    throw RenewSession(cause: error)
                case .failItem, .abortRun:
                    throw error
                }
            }
        }
    }
}
