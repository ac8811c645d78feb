/// What a platform says of a committed media after its upload: the upload-complete notification,
/// the processing task's progress, or the media's status.
public struct ProcessingEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Tencent NewFileUpload: the upload is complete (``taskID``: the ProcedureTaskId when a procedure was set).
        case upload
        /// Tencent ProcedureStateChanged: the procedure's task (``taskID``) is `PROCESSING` or `FINISH`.
        case procedure
        /// Alibaba: the video's status as GetVideoInfos gives it (`UploadSucc`, `Transcoding`, `Normal`, ...).
        case status
        /// Any other event (FileDeleted, ...): confirmed when it is about a media of the journal, never recorded.
        case other
    }

    public var kind: Kind
    /// The platform's event type (`NewFileUpload`, `ProcedureStateChanged`, `FileDeleted`, ...; `status` for a poll).
    public var type: String
    /// The media it is about (nil when the event names none).
    public var fileID: String?
    /// Seconds since 1970: the platform's time where the event carries one, else when it was seen.
    public var at: Int64
    /// The SourceContext passed through (Tencent), to check the match.
    public var sourceContext: String?
    public var taskID: String?
    public var status: String?
    /// The processing failed (a ProcedureStateChanged with an ErrCode, a `TranscodeFail` status): why.
    public var failure: String?
    /// What confirms it (Tencent's EventHandle); nil when nothing needs confirming.
    public var handle: String?

    public init(
        kind: Kind, type: String, fileID: String?, at: Int64, sourceContext: String? = nil, taskID: String? = nil, status: String? = nil,
        failure: String? = nil, handle: String? = nil
    ) {
        self.kind = kind
        self.type = type
        self.fileID = fileID
        self.at = at
        self.sourceContext = sourceContext
        self.taskID = taskID
        self.status = status
        self.failure = failure
        self.handle = handle
    }
}

/// How a platform tells what became of an upload (as data in ``ProviderProfile/processing``).
public struct ProcessingRules: Sendable, Hashable {
    /// Events are pulled for the whole account and confirmed (Tencent PullEvents / ConfirmEvents,
    /// the reliable-callback mode); else each media's status is polled (Alibaba GetVideoInfos).
    public var pullsEvents: Bool
    /// The actions, for budgets and counters.
    public var pull: String?
    public var confirm: String?
    public var poll: String?
    /// Most media one poll asks about (GetVideoInfos: 20); most handles one confirm takes (16).
    public var pollBatch: Int
    public var confirmBatch: Int
    /// Statuses after which a polled media is done: finished, or failed.
    public var finishedStatuses: Set<String>
    public var failedStatuses: Set<String>

    public init(
        pullsEvents: Bool, pull: String? = nil, confirm: String? = nil, poll: String? = nil, pollBatch: Int = 20, confirmBatch: Int = 16,
        finishedStatuses: Set<String> = [], failedStatuses: Set<String> = []
    ) {
        self.pullsEvents = pullsEvents
        self.pull = pull
        self.confirm = confirm
        self.poll = poll
        self.pollBatch = pollBatch
        self.confirmBatch = confirmBatch
        self.finishedStatuses = finishedStatuses
        self.failedStatuses = failedStatuses
    }

    /// The actions this watch calls.
    public var actions: [String] { [pull, confirm, poll].compactMap { $0 } }
}

/// What the journal knows of a committed media's processing: what the events said, and whether
/// nothing more is awaited.
public struct ProcessingState: Sendable, Hashable {
    public var key: Int64
    public var fileID: String
    public var sourceContext: String?
    /// Unix seconds of the upload-complete event (Tencent NewFileUpload).
    public var uploadEventAt: Int64?
    /// The processing task (Tencent ProcedureTaskId), when one was started.
    public var procedureTaskID: String?
    /// Tencent: `PROCESSING`, `FINISH` or `FAIL: <ErrCode> <Message>`; Alibaba: the video's status.
    public var procedureStatus: String?
    /// Unix seconds of ``procedureStatus``.
    public var procedureStatusAt: Int64?
    /// Nothing more is awaited: finished, or failed for good.
    public var done: Bool
    /// The processing failed.
    public var failed: Bool

    public init(
        key: Int64, fileID: String, sourceContext: String?, uploadEventAt: Int64? = nil, procedureTaskID: String? = nil,
        procedureStatus: String? = nil, procedureStatusAt: Int64? = nil, done: Bool = false, failed: Bool = false
    ) {
        self.key = key
        self.fileID = fileID
        self.sourceContext = sourceContext
        self.uploadEventAt = uploadEventAt
        self.procedureTaskID = procedureTaskID
        self.procedureStatus = procedureStatus
        self.procedureStatusAt = procedureStatusAt
        self.done = done
        self.failed = failed
    }

    /// This state with `event` taken in (a pure function; the journal stores the result). An
    /// upload event done when it names no procedure task; a procedure done at `FINISH`; a status
    /// done when the rules call it finished or failed. Events never move a state backwards: a
    /// `PROCESSING` after a `FINISH` (events may come out of order) changes nothing.
    public func merging(_ event: ProcessingEvent, rules: ProcessingRules) -> ProcessingState {
        var next = self
        switch event.kind {
        case .upload:
            next.uploadEventAt = next.uploadEventAt ?? event.at
            if let task = event.taskID, !task.isEmpty { next.procedureTaskID = task }
        case .procedure:
            if let task = event.taskID, !task.isEmpty { next.procedureTaskID = task }
            if isFinalProcedure && event.status != "FINISH" { return self }
            next.procedureStatus = event.failure.map { "FAIL: " + $0 } ?? event.status
            next.procedureStatusAt = event.at
            next.failed = event.failure != nil
        case .status:
            guard let status = event.status, !done else { return self }
            next.procedureStatus = status
            next.procedureStatusAt = event.at
            next.failed = event.failure != nil || rules.failedStatuses.contains(status)
            next.done = next.failed || rules.finishedStatuses.contains(status)
            if next.uploadEventAt == nil, status != "Uploading" { next.uploadEventAt = event.at }
            return next
        case .other:
            return self
        }
        // Done once the upload event is in and the procedure it names (if any) finished.
        next.done = next.uploadEventAt != nil && (next.procedureTaskID == nil || next.isFinalProcedure)
        return next
    }

    /// The procedure's task ended (`FINISH`, or failed).
    var isFinalProcedure: Bool { procedureStatus == "FINISH" || procedureStatus?.hasPrefix("FAIL") == true }
}

/// Where a platform's processing news comes from (architecture §3: the engine's `EventWatcher`
/// sees only this). Failures are ``ProviderError``s.
public protocol ProcessingEvents: Sendable {
    /// The next events. Pulling platforms (Tencent PullEvents: a long poll of up to 5 s, at most 16
    /// events) ignore `fileIDs`; polling ones (Alibaba GetVideoInfos) ask about them, at most
    /// ``ProcessingRules/pollBatch`` at once. One API call.
    func nextEvents(fileIDs: [String]) async throws -> [ProcessingEvent]
    /// Acknowledges pulled events so they are not handed out again (Tencent ConfirmEvents, at most
    /// ``ProcessingRules/confirmBatch`` handles). One API call.
    func confirmEvents(_ handles: [String]) async throws
}
