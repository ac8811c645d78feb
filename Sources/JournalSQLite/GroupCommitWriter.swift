import Foundation
import GRDB

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
    private let condition = NSCondition()
    private var queue: [Operation] = []
    private var running = true
    private var thread: Thread?
    private var transactions = 0
    private var writes = 0

    /// Transactions and writes so far (for the benchmark).
    var counts: (transactions: Int, writes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (transactions, writes)
    }

    init(database: DatabaseQueue) {
        self.database = database
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "vodingest-journal"
        thread.qualityOfService = .userInitiated
        self.thread = thread
        thread.start()
    }

    /// Runs `body` in the next transaction; returns its result once that transaction is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
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
                        return { continuation.resume(throwing: error) }
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
            var finishers: [@Sendable () -> Void] = []
            finishers.reserveCapacity(batch.count)
            do {
                try database.inTransaction(.immediate) { db in
                    for operation in batch { finishers.append(operation.run(db)) }
                    return .commit
                }
                for finish in finishers { finish() }
            } catch {
                for operation in batch { operation.fail(error) }
            }
        }
    }
}
