import Foundation
import GRDB
import IngestCore

/// Runs every write of the journal on one thread, grouping the writes that arrive while a
/// transaction commits into the next one (group commit): each caller waits for its own write to be
/// durable, and the fsync is shared by everyone waiting.
///
/// Each write runs in its own savepoint, so a refused write (a compare-and-set that does not match)
/// rolls back alone. Writes are not cancelled with the task that asked for them: a transition the
/// engine announced is recorded even when the run is being stopped.
///
/// `@unchecked Sendable`: `queue` and `running` are only touched under `condition`'s lock.
final class GroupCommitWriter: @unchecked Sendable {
    private struct Operation {
        /// Runs in the transaction; returns what to do once it is committed (resume the caller).
        let run: (Database) -> (@Sendable () -> Void)
        let fail: @Sendable (any Error) -> Void
    }

    private let database: DatabaseQueue
    /// The journal's file, for the errors a full or read-only disk gives.
    private let path: String
    private let condition = NSCondition()
    private var queue: [Operation] = []
    private var running = true
    private var thread: Thread?
    private var transactions = 0
    private var writes = 0
    /// The journal file this writer has open (device, inode), to see it removed under the run.
    private let identity: (device: UInt64, inode: UInt64)?
    /// Once the journal was found removed, every later write fails with this (loop thread only).
    private var removed: IngestError?

    /// Transactions and writes so far (for the benchmark).
    var counts: (transactions: Int, writes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (transactions, writes)
    }

    init(database: DatabaseQueue, path: String) {
        self.database = database
        self.path = path
        var info = stat()
        identity = stat(path, &info) == 0 ? (UInt64(info.st_dev), UInt64(info.st_ino)) : nil
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "vodingest-journal"
        thread.qualityOfService = .userInitiated
        self.thread = thread
        thread.start()
    }

    /// Runs `body` in the next transaction; returns its result once that transaction is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let path = self.path
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let operation = Operation(
                run: { db in
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        let result = value!
                        return { continuation.resume(returning: result) }
                    } catch {
                        let failure = JournalFailure.map(error, path: path)
                        return { continuation.resume(throwing: failure) }
                    }
                },
                fail: { continuation.resume(throwing: $0) })
            condition.lock()
            if running {
                queue.append(operation)
                condition.signal()
                condition.unlock()
            } else {
                condition.unlock()
                operation.fail(JournalClosed())
            }
        }
    }

    struct JournalClosed: Error, CustomStringConvertible {
        var description: String { "the journal is closed" }
    }

    /// Writes what is queued, then stops the thread.
    func close() {
        condition.lock()
        running = false
        condition.signal()
        condition.unlock()
        while true {
            condition.lock()
            let done = thread == nil
            condition.unlock()
            if done { return }
            usleep(1000)
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && running { condition.wait() }
            if queue.isEmpty && !running {
                thread = nil
                condition.unlock()
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            transactions += 1
            writes += batch.count
            condition.unlock()
            if let failure = removed ?? checkStillThere() {
                removed = failure
                for operation in batch { operation.fail(failure) }
                continue
            }
            var finishers: [@Sendable () -> Void] = []
            finishers.reserveCapacity(batch.count)
            do {
                try database.inTransaction(.immediate) { db in
                    for operation in batch { finishers.append(operation.run(db)) }
                    return .commit
                }
                for finish in finishers { finish() }
            } catch {
                let failure = JournalFailure.map(error, path: path)
                for operation in batch { operation.fail(failure) }
            }
        }
    }
}

extension GroupCommitWriter {
    /// Whether the journal file is still at its path; when its folder was removed (or moved), the
    /// open database is written back there (SQLite's backup, from this connection, which still has
    /// every page), and the run is told to stop: writing on into a file no folder holds would lose it.
    fileprivate func checkStillThere() -> IngestError? {
        guard let identity else { return nil }
        var info = stat()
        if stat(path, &info) == 0 {
            if UInt64(info.st_dev) == identity.device && UInt64(info.st_ino) == identity.inode { return nil }
            return IngestError(
                code: "journal.removed",
                message:
                    "the journal \(path) was replaced by another file while the run went on; nothing more is written to it. "
                    + "Put the state directory back as it was, then run the same command again; it resumes",
                subject: path)
        }
        let folder = (path as NSString).deletingLastPathComponent
        let stop = "The run stops here: run the same command again; it resumes from the journal."
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let copy = try DatabaseQueue(path: path)
            try database.backup(to: copy)
            try copy.close()
            return IngestError(
                code: "journal.removed",
                message:
                    "the state directory \(folder) was removed (or moved) while the run went on. The journal was written back to "
                    + "\(path) from the open database, with everything done so far: nothing is lost. " + stop,
                subject: path)
        } catch {
            return IngestError(
                code: "journal.removed",
                message:
                    "the state directory \(folder) was removed (or moved) while the run went on, and the journal could not be "
                    + "written back (\(error)): the items of this run are on the platform but not in a journal; "
                    + "`vodingest audit --verify-remote` finds them. Make the folder writable, then run the same command again",
                subject: path)
        }
    }
}

/// What a journal write that the disk refused says: which file, why, and that a resume is safe.
enum JournalFailure {
    /// SQLite says only "disk I/O error": what this process can see of the usual causes.
    static func likelyCause(_ folder: String) -> String {
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            return "this process may write files of \(limit.rlim_cur / 1024) KiB at most (ulimit -f)"
        }
        var info = statvfs()
        if statvfs(folder, &info) != 0 { return "\(folder) is gone or cannot be read" }
        if UInt64(info.f_bavail) * UInt64(info.f_frsize) < 1 << 20 { return "\(folder) has less than 1 MiB free" }
        if access(folder, W_OK) != 0 { return "\(folder) cannot be written" }
        return "the disk under \(folder) may be failing"
    }

    static func map(_ error: any Error, path: String) -> any Error {
        guard let database = error as? DatabaseError else { return error }
        let folder = (path as NSString).deletingLastPathComponent
        let resume = "Nothing done is lost: the journal keeps every committed item. Then run the same command again; it resumes."
        switch database.resultCode {
        case .SQLITE_FULL:
            return IngestError(
                code: "journal.full",
                message: "cannot write the journal \(path): the disk or the quota of \(folder) is full. Free space there. " + resume,
                subject: path)
        case .SQLITE_READONLY:
            return IngestError(
                code: "journal.read-only",
                message: "cannot write the journal \(path): \(folder) became read-only. Make it writable. " + resume, subject: path)
        case .SQLITE_IOERR, .SQLITE_CANTOPEN:
            return IngestError(
                code: "journal.io",
                message: "cannot write the journal \(path): \(database.message ?? "an I/O error") (\(likelyCause(folder))). Fix that. "
                    + resume,
                subject: path)
        default:
            return error
        }
    }
}
