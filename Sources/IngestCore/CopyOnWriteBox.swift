/// The heap box behind value types with many fields (``ManifestRow``, ``IngestItem``): copying the
/// value copies one reference; the owner replaces the box before writing when it is shared, so the
/// type keeps value semantics.
///
/// `@unchecked Sendable`: `value` is only written through a box its owner holds the sole reference
/// to (checked with `isKnownUniquelyReferenced`), so no box is ever written while another thread reads it.
public final class CopyOnWriteBox<Value: Sendable>: @unchecked Sendable {
    public var value: Value

    @inlinable public init(_ value: Value) { self.value = value }
}

/// A value type whose fields (`Fields`) live in one ``CopyOnWriteBox``: a copy costs one reference
/// count, not one per string (rows cross the reading, checking and settling threads on the
/// million-row path). `row.path`, `row.tags.append(...)` reach the fields through dynamic member
/// lookup; equality and hashing are the fields'.
@dynamicMemberLookup
public protocol CopyOnWriteValue: Sendable, Hashable {
    associatedtype Fields: Sendable & Hashable
    /// The box; read and write the fields as properties of the value instead.
    var storage: CopyOnWriteBox<Fields> { get set }
}

extension CopyOnWriteValue {
    @inlinable
    public subscript<T>(dynamicMember keyPath: WritableKeyPath<Fields, T>) -> T {
        get { storage.value[keyPath: keyPath] }
        _modify {
            if !isKnownUniquelyReferenced(&storage) { storage = CopyOnWriteBox(storage.value) }
            yield &storage.value[keyPath: keyPath]
        }
    }

    /// All the stored values at once.
    @inlinable
    public var fields: Fields {
        get { storage.value }
        set { storage = CopyOnWriteBox(newValue) }
    }

    @inlinable
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.storage === rhs.storage || lhs.storage.value == rhs.storage.value }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(storage.value) }
}
