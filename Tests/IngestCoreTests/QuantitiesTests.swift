import Foundation
import Testing

@testable import IngestCore

@Suite("Sizes, rates and timestamps")
struct QuantitiesTests {
    @Test(arguments: [
        ("64MiB", Int64(64 << 20)), ("1.5GB", Int64(1_500_000_000)), ("512k", Int64(512 * 1024)),
        ("1048576", Int64(1_048_576)), ("2 GiB", Int64(2) << 30), ("10KB", Int64(10_000)), ("1TiB", Int64(1) << 40),
    ])
    func parsesSizes(text: String, bytes: Int64) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["", "MiB", "12 parsecs", "-5MB", "1.2.3GB", "abc"])
    func rejectsBadSizes(text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func parsesRates() {
        #expect(ByteRate(parsing: "100MB/s")?.bytesPerSecond == 100_000_000)
        #expect(ByteRate(parsing: "50MiB/s")?.bytesPerSecond == Double(50 << 20))
        #expect(ByteRate(parsing: "1Gbit/s")?.bytesPerSecond == 125_000_000)
        #expect(ByteRate(parsing: "800Mbps")?.bytesPerSecond == 100_000_000)
        #expect(ByteRate(parsing: "0MB/s") == nil)
        #expect(ByteRate(parsing: "fast") == nil)
        #expect(RequestRate(parsing: "100")?.perSecond == 100)
        #expect(RequestRate(parsing: "50/s")?.perSecond == 50)
        #expect(RequestRate(parsing: "6000/min")?.perSecond == 100)
        #expect(RequestRate(parsing: "0") == nil)
        #expect(RequestRate(parsing: "-3/s") == nil)
    }

    @Test func formatsSizesAndDurations() {
        #expect(ByteSize.format(512) == "512 B")
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(64 << 20) == "64 MiB")
        #expect(formatDuration(4.25) == "4.3s")
        #expect(formatDuration(125) == "2m 05s")
        #expect(formatDuration(7384) == "2h 03m 04s")
    }

    @Test func parsesISO8601() throws {
        let utc = try #require(ISO8601Timestamp.parse("2030-01-01T00:00:00Z"))
        #expect(utc.timeIntervalSince1970 == 1_893_456_000)
        let offset = try #require(ISO8601Timestamp.parse("2030-01-01T08:00:00+08:00"))
        #expect(offset == utc)
        let fraction = try #require(ISO8601Timestamp.parse("2030-01-01T00:00:00.250Z"))
        #expect(fraction.timeIntervalSince1970 == 1_893_456_000.25)
        #expect(ISO8601Timestamp.parse("2030-01-01")?.timeIntervalSince1970 == 1_893_456_000)
        #expect(ISO8601Timestamp.parse("2024-02-29T12:00:00Z") != nil)
        for bad in [
            "2023-02-29T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-01T00:00:00", "next tuesday",
            "2030-01-01T25:00:00Z", "2030-01-01T00:00:00Zjunk", "",
        ] {
            #expect(ISO8601Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite("Part planning")
struct PartPlanTests {
    let rules = ProviderProfile.tencent.parts

    @Test func smallFilesGoInOnePut() {
        let plan = PartPlan(size: 5 << 20, preferredPartSize: 16 << 20, rules: rules)
        #expect(plan.mode == .simple)
        #expect(plan.partCount == 1)
        #expect(plan.storageRequests == 1)
    }

    @Test func largeFilesAreSplit() {
        let plan = PartPlan(size: 100 << 20, preferredPartSize: 16 << 20, rules: rules)
        #expect(plan.mode == .multipart)
        #expect(plan.partCount == 7)  // 6 × 16 MiB + 4 MiB
        #expect(plan.storageRequests == 9)
    }

    @Test func partSizeGrowsToStayUnderTenThousandParts() {
        let size: Int64 = 1 << 40  // 1 TiB at 16 MiB would need 65,536 parts
        let plan = PartPlan(size: size, preferredPartSize: 16 << 20, rules: rules)
        #expect(plan.partCount <= 10_000)
        #expect(plan.partSize % (1 << 20) == 0)
        #expect(plan.partSize * Int64(plan.partCount) >= size)
        #expect(plan.partSize * Int64(plan.partCount - 1) < size)
    }

    @Test func preferredSizeIsClampedToPlatformMinimum() {
        let plan = PartPlan(size: 10 << 20, preferredPartSize: 1000, rules: rules)
        #expect(plan.partSize == 1 << 20)
        #expect(plan.partCount == 10)
    }
}

@Suite("File-name rules")
struct MediaRulesTests {
    @Test func extensions() {
        #expect(MediaRules.fileExtension(ofPath: "a/b/Clip.MP4") == "mp4")
        #expect(MediaRules.fileExtension(ofPath: "dir.v2/noext") == nil)
        #expect(MediaRules.fileExtension(ofPath: ".hidden") == nil)
        #expect(MediaRules.fileExtension(ofPath: "trailing.") == "")
        #expect(MediaRules.fileExtension(ofPath: "archive.tar.gz") == "gz")
        #expect(MediaRules.baseName(ofPath: "videos/Episode 1.mkv") == "Episode 1")
        #expect(MediaRules.baseName(ofPath: "videos/noext") == "noext")
    }

    @Test func listsMatchThePlatformRules() {
        #expect(MediaRules.videoExtensions.count == 29)
        #expect(MediaRules.audioExtensions.count == 13)
        #expect(MediaRules.mediaExtensions.contains("m3u8"))
        #expect(MediaRules.mediaExtensions.contains("aiff"))
        #expect(!MediaRules.mediaExtensions.contains("jpg"))
    }

    @Test func stringHelpers() {
        #expect("  padded\t".trimmedSpaces() == "padded")
        #expect("tidy".trimmedSpaces() == "tidy")
        #expect("é".scalarCount == 1)
        #expect("tab\there".containsControlCharacters(allowingNewlines: false))
        #expect(!"line\nbreak".containsControlCharacters(allowingNewlines: true))
        #expect("c1\u{85}".containsControlCharacters(allowingNewlines: false))
        #expect(!"日本語".containsControlCharacters(allowingNewlines: false))
        #expect("a\u{3000}b".containsWhitespace())
    }
}
