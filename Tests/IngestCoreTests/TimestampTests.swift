import Foundation
import IngestCore
import Testing

@Suite("ISO 8601 timestamps")
struct TimestampTests {
    @Test("format gives UTC seconds as the platforms write them")
    func knownValues() {
        #expect(ISO8601Timestamp.format(0) == "1970-01-01T00:00:00Z")
        #expect(ISO8601Timestamp.format(951_782_400) == "2000-02-29T00:00:00Z")
        #expect(ISO8601Timestamp.format(1_547_051_782) == "2019-01-09T16:36:22Z")
        #expect(ISO8601Timestamp.format(253_402_300_799) == "9999-12-31T23:59:59Z")
        #expect(ISO8601Timestamp.format(-1) == "1969-12-31T23:59:59Z")
    }

    @Test("format agrees with Foundation's formatter and parse reads it back")
    func agreesWithFoundation() {
        let foundation = ISO8601DateFormatter()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_000_000_000...40_000_000_000, using: &generator)
            let text = ISO8601Timestamp.format(seconds)
            #expect(text == foundation.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
            #expect(ISO8601Timestamp.parse(text).map { Int64($0.timeIntervalSince1970) } == seconds)
        }
    }
}
