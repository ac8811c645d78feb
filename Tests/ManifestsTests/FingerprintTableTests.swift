import Testing

@testable import Manifests

@Suite("Duplicate tables")
struct FingerprintTableTests {
    @Test func firstValueWinsAndSurvivesGrowth() {
        var table = FingerprintTable()  // 16 slots: grows several times below
        let keys = (0..<10_000).map { i -> Int in
            var hasher = Hasher()
            hasher.combine("row-\(i)")
            return hasher.finalize()
        }
        for (i, key) in keys.enumerated() { #expect(table.insertIfAbsent(key, value: UInt64(i)) == nil) }
        #expect(table.count == 10_000)
        #expect(table.capacity >= 10_000 * 4 / 3)
        for (i, key) in keys.enumerated() where i % 97 == 0 {
            #expect(table.insertIfAbsent(key, value: 999_999) == UInt64(i))
        }
        #expect(table.count == 10_000)
    }

    @Test func collidingSlotsAndZeroAreKeptApart() {
        var table = FingerprintTable(expected: 8)
        let size = table.capacity
        // Same low bits: the same home slot, so they probe past each other.
        let colliding = [3, 3 + size, 3 + 2 * size, 3 + 3 * size]
        for (i, key) in colliding.enumerated() { #expect(table.insertIfAbsent(key, value: UInt64(i)) == nil) }
        for (i, key) in colliding.enumerated() { #expect(table.insertIfAbsent(key, value: 42) == UInt64(i)) }
        // 0 marks empty slots internally; it is still a key (sharing its slot with 1).
        #expect(table.insertIfAbsent(0, value: 7) == nil)
        #expect(table.insertIfAbsent(0, value: 8) == 7)
        #expect(table.insertIfAbsent(-1, value: 9) == nil)
    }

    @Test func sizedUpFrontDoesNotGrow() {
        var table = FingerprintTable(expected: 1000)
        let capacity = table.capacity
        for i in 1...1000 { _ = table.insertIfAbsent(i &* 0x1E37_79B9_7F4A_7C15, value: 0) }
        #expect(table.capacity == capacity)
    }
}
