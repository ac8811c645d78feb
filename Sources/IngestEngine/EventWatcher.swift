import Foundation
import IngestCore

/// What an event watch is asked to wait for.
public struct EventWatchOptions: Sendable {
    /// Only media committed at or after this (Unix milliseconds): `ingest --wait-events` waits for
    /// its own run's; nil (`vodingest events`): every committed media still awaited.
    public var committedSince: Int64?
    /// Stop waiting after this long (`--events-timeout`), the media not done left awaited.
    public var timeout: Duration
    /// Confirm events of media the journal does not know (`--confirm-foreign`): another tool's,
    /// which would otherwise never get them.
    public var confirmForeign: Bool
    /// Between two sweeps of the awaited media on a polling platform.
    public var pollPause: Duration

    public init(
        committedSince: Int64? = nil, timeout: Duration = .seconds(600), confirmForeign: Bool = false, pollPause: Duration = .seconds(2)
    ) {
        self.committedSince = committedSince
        self.timeout = timeout
        self.confirmForeign = confirmForeign
        self.pollPause = pollPause
    }
}

/// What an event watch did.
public struct EventWatchSummary: Sendable, Codable {
    /// Media awaited when the watch began, and of those: done (finished or failed), failed, still awaited.
    public var awaited = 0
    public var done = 0
    public var failed = 0
    public var waiting = 0
    /// Events taken into the journal, and handles confirmed.
    public var matched = 0
    public var confirmed = 0
    /// Events of media the journal does not know (not confirmed unless `--confirm-foreign`); the first few.
    public var foreign = 0
    public var foreignExamples: [String] = []
    /// Events whose SourceContext is not the one the journal's media was applied with (left unconfirmed).
    public var mismatched = 0
    /// Handles the platform would not confirm any more (their lease ran out): their events come again.
    public var unconfirmed = 0
    public var apiCallsByAction: [String: Int] = [:]
    public var retries = 0
    public var timedOut = false
    public var seconds = 0.0

    public init() {}
}

/// Waits for what the platform says of committed media after their upload, and journals it:
/// Tencent's NewFileUpload and ProcedureStateChanged events (PullEvents), matched to journal items
/// by FileId (their SourceContext checked), confirmed (ConfirmEvents) only once what they said is
/// durable, so a crash between the two re-reads the same events and loses none; Alibaba's video
/// status, polled (GetVideoInfos, 20 ids a call) until each video is `Normal` or failed. Every call
/// goes through the run's budget for its action, with backoff on throttling and transient errors.
public struct EventWatcher: Sendable {
    public let journal: any JournalStore
    public let events: any ProcessingEvents
    public let rules: ProcessingRules
    public let budget: RateBudget
    public let maxAttempts: Int

    public init(journal: any JournalStore, events: any ProcessingEvents, rules: ProcessingRules, budget: RateBudget, maxAttempts: Int = 6) {
        self.journal = journal
        self.events = events
        self.rules = rules
        self.budget = budget
        self.maxAttempts = maxAttempts
    }

    /// Most foreign events listed in the summary.
    static let exampleLimit = 20

    /// Watches until every awaited media is done or `options.timeout` passes; `progress` gets the
    /// number still awaited after each batch.
    public func run(_ options: EventWatchOptions, progress: @Sendable (Int) async -> Void = { _ in }) async throws -> EventWatchSummary {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + options.timeout
        var summary = EventWatchSummary()
        let awaited = try await journal.countAwaitingProcessing(committedSince: options.committedSince)
        summary.awaited = awaited
        var waiting = awaited
        while waiting > 0 {
            if clock.now >= deadline {
                summary.timedOut = true
                break
            }
            if rules.pullsEvents {
                try await pullOnce(options, &summary)
            } else {
                try await sweep(options, &summary, deadline: deadline)
            }
            waiting = try await journal.countAwaitingProcessing(committedSince: options.committedSince)
            await progress(waiting)
            if waiting > 0, !rules.pullsEvents, clock.now < deadline {
                try await Task.sleep(for: min(options.pollPause, deadline - clock.now))
            }
        }
        summary.waiting = waiting
        let elapsed = clock.now - start
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return summary
    }

    /// One PullEvents: each event merged into its media's state, the states journalled, then the
    /// handles of what was journalled (and of other events about the journal's media) confirmed.
    func pullOnce(_ options: EventWatchOptions, _ summary: inout EventWatchSummary) async throws {
        guard let pull = rules.pull else { return }
        let batch = try await call(pull, &summary) { try await events.nextEvents(fileIDs: []) }
        guard !batch.isEmpty else { return }
        let ids = batch.compactMap { $0.fileID }
        let states = try await journal.processingStates(fileIDs: ids)
        let known = try await journal.knownMedia(ids.filter { states[$0] == nil })
        var merged: [String: ProcessingState] = [:]
        var confirm: [String] = []
        for event in batch {
            guard let id = event.fileID, let state = merged[id] ?? states[id] else {
                if let id = event.fileID, known.contains(id) {
                    // About a media of the journal that is not awaited (one this run replaced): confirmed, nothing to record.
                    if let handle = event.handle { confirm.append(handle) }
                    continue
                }
                summary.foreign += 1
                if summary.foreignExamples.count < Self.exampleLimit {
                    summary.foreignExamples.append("\(event.type) \(event.fileID ?? "-")")
                }
                if options.confirmForeign, let handle = event.handle { confirm.append(handle) }
                continue
            }
            if let context = event.sourceContext, !context.isEmpty, let expected = state.sourceContext, context != expected {
                summary.mismatched += 1
                continue
            }
            merged[id] = state.merging(event, rules: rules)
            summary.matched += 1
            if let handle = event.handle { confirm.append(handle) }
        }
        // Durable first: a crash before the confirm hands the same events out again (merging is idempotent).
        try await journal.recordProcessing(Array(merged.values))
        count(merged.values, states, &summary)
        if let action = rules.confirm {
            for start in stride(from: 0, to: confirm.count, by: rules.confirmBatch) {
                let handles = Array(confirm[start..<min(confirm.count, start + rules.confirmBatch)])
                do {
                    try await call(action, &summary) { try await events.confirmEvents(handles) }
                    summary.confirmed += handles.count
                } catch let error as ProviderError where error.disposition == .failItem {
                    // Their lease ran out (30 s on Tencent): the platform hands them out again, and
                    // what they say is in the journal already; the next pull confirms them.
                    summary.unconfirmed += handles.count
                }
            }
        }
    }

    /// One pass over the awaited media, `pollBatch` at a time, each batch's statuses journalled.
    func sweep(_ options: EventWatchOptions, _ summary: inout EventWatchSummary, deadline: ContinuousClock.Instant) async throws {
        guard let poll = rules.poll else { return }
        var after: Int64 = 0
        while ContinuousClock.now < deadline {
            let page = try await journal.awaitingProcessing(
                committedSince: options.committedSince, after: after, limit: max(1, rules.pollBatch))
            guard let last = page.last else { return }
            after = last.key
            let batch = try await call(poll, &summary) { try await events.nextEvents(fileIDs: page.map(\.fileID)) }
            let states = Dictionary(page.map { ($0.fileID, $0) }, uniquingKeysWith: { a, _ in a })
            var merged: [String: ProcessingState] = [:]
            for event in batch {
                guard let id = event.fileID, let state = merged[id] ?? states[id] else { continue }
                merged[id] = state.merging(event, rules: rules)
                summary.matched += 1
            }
            let changed = merged.values.filter { $0 != states[$0.fileID] }
            try await journal.recordProcessing(changed)
            count(changed, states, &summary)
        }
    }

    /// Counts the media that became done (and failed) with these states.
    func count(_ states: some Sequence<ProcessingState>, _ before: [String: ProcessingState], _ summary: inout EventWatchSummary) {
        for state in states where state.done && before[state.fileID]?.done != true {
            summary.done += 1
            if state.failed { summary.failed += 1 }
        }
    }

    /// One API call under its action's budget, retried with backoff when the platform throttles or
    /// fails transiently.
    func call<T>(_ action: String, _ summary: inout EventWatchSummary, _ body: () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            tries += 1
            try await budget.acquire(action)
            summary.apiCallsByAction[action, default: 0] += 1
            do {
                let value = try await body()
                await budget.succeeded(action)
                return value
            } catch let error as ProviderError where error.disposition == .retry || error.disposition == .throttled {
                if error.disposition == .throttled { await budget.throttled(action) }
                guard tries < maxAttempts else { throw error }
                summary.retries += 1
                try await Task.sleep(for: Backoff.delay(attempt: tries))
            }
        }
    }
}
