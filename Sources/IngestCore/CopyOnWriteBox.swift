/// The heap box behind value types with many fields (``ManifestRow``, ``IngestItem``): copying the
/// value copies one reference; the owner replaces the box before writing when it is shared, so the
/// type keeps value semantics.
///
/// `@unchecked Sendable`: `value` is only written through a box its owner holds the sole reference
/// to (checked with `isKnownUniquelyReferenced`), so no box is ever written while another thread reads it.
public final class CopyOnWriteBox<Value: Sendable>: @unchecked Sendable {
    public var value: Value

    public init(_ value: Value) { self.value = value }
}
