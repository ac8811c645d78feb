import Foundation

/// A bounded, blocking, single-producer single-consumer queue between the manifest-reading thread
/// and the validating thread. Bounded so that a fast reader never buffers a whole manifest.
final class BatchQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Appends, waiting while the queue is full.
    func put(_ element: Element) {
        condition.lock()
        while items.count >= capacity { condition.wait() }
        items.append(element)
        condition.broadcast()
        condition.unlock()
    }

    /// Removes the oldest element, waiting while the queue is empty.
    func take() -> Element {
        condition.lock()
        while items.isEmpty { condition.wait() }
        let element = items.removeFirst()
        condition.broadcast()
        condition.unlock()
        return element
    }
}

/// Carries a non-`Sendable` value to the one thread that will use it from then on.
struct Handoff<Value>: @unchecked Sendable {
    let value: Value
}
