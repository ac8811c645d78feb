import Foundation

/// An ordered, bounded parallel map between one producer thread, a few worker threads and one
/// consumer: the producer puts batches in order, the workers transform them in any order, and the
/// consumer takes the results back in the producer's order.
///
/// Bounded: at most `capacity` batches are between the producer and the consumer at any time, so a
/// fast reader never buffers a whole manifest.
final class OrderedBatchWork<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var waiting: [(sequence: Int, input: Input)] = []
    private var done: [Int: Output] = [:]
    private var produced = 0
    private var consumed = 0
    private var finished = false

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Producer: queues the next batch, waiting while `capacity` batches are in flight.
    func put(_ input: Input) {
        condition.lock()
        while produced - consumed >= capacity { condition.wait() }
        waiting.append((produced, input))
        produced += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Producer: no more batches.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Worker: transforms batches until the producer has finished and none is left.
    func work(_ transform: (Input) -> Output) {
        while true {
            condition.lock()
            while waiting.isEmpty && !finished { condition.wait() }
            if waiting.isEmpty {
                condition.unlock()
                return
            }
            let (sequence, input) = waiting.removeFirst()
            condition.unlock()
            let output = transform(input)
            condition.lock()
            done[sequence] = output
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Consumer: the next result in the producer's order, or `nil` once every batch was taken.
    func next() -> Output? {
        condition.lock()
        defer { condition.unlock() }
        while done[consumed] == nil {
            if finished && consumed == produced { return nil }
            condition.wait()
        }
        let output = done.removeValue(forKey: consumed)
        consumed += 1
        condition.broadcast()
        return output
    }
}

/// Carries a non-`Sendable` value to the one thread that will use it from then on.
struct Handoff<Value>: @unchecked Sendable {
    let value: Value
}
