/// A set of 64-bit fingerprints, each remembering where it was first seen: the run-wide duplicate
/// tables of ``Validator`` (ids and files).
///
/// Fingerprints are `Hasher` outputs, already well mixed, so they index an open-addressing table
/// directly (linear probing, power-of-two size, at most 3/4 full): no second hash, no per-entry
/// allocation, 16 bytes a slot with the key and its value side by side, so a lookup touches one
/// cache line. `Dictionary<Int, UInt64>` hashed the fingerprint again and was a tenth of the
/// validation time.
struct FingerprintTable {
    /// Slot `i` is `storage[2i]` (the key, 0 when empty) and `storage[2i + 1]` (its value).
    private var storage: [UInt64]
    private var mask: Int
    private(set) var count = 0

    /// A table for about `expected` entries without regrowth.
    init(expected: Int = 0) {
        var size = 16
        while size * 3 < expected * 4 { size <<= 1 }
        storage = Array(repeating: 0, count: 2 * size)
        mask = size - 1
    }

    /// Number of slots.
    var capacity: Int { mask + 1 }

    /// Records `value` for `fingerprint` unless already present.
    /// - Returns: the value recorded first when `fingerprint` was already present, else `nil`.
    mutating func insertIfAbsent(_ fingerprint: Int, value: UInt64) -> UInt64? {
        // 0 marks an empty slot; the one fingerprint it would stand for shares a slot with 1.
        let key = fingerprint == 0 ? 1 : UInt64(bitPattern: Int64(fingerprint))
        if (count + 1) * 4 > capacity * 3 { grow() }
        let mask = self.mask
        let found: UInt64? = storage.withUnsafeMutableBufferPointer { slots in
            var slot = Int(truncatingIfNeeded: key) & mask
            while true {
                let k = slots[2 * slot]
                if k == key { return slots[2 * slot + 1] }
                if k == 0 {
                    slots[2 * slot] = key
                    slots[2 * slot + 1] = value
                    return nil
                }
                slot = (slot + 1) & mask
            }
        }
        if found == nil { count += 1 }
        return found
    }

    private mutating func grow() {
        let old = storage
        let size = capacity * 2
        storage = Array(repeating: 0, count: 2 * size)
        mask = size - 1
        let mask = self.mask
        storage.withUnsafeMutableBufferPointer { slots in
            for index in stride(from: 0, to: old.count, by: 2) where old[index] != 0 {
                var slot = Int(truncatingIfNeeded: old[index]) & mask
                while slots[2 * slot] != 0 { slot = (slot + 1) & mask }
                slots[2 * slot] = old[index]
                slots[2 * slot + 1] = old[index + 1]
            }
        }
    }
}
