import Foundation
import IngestTesting
import Manifests
import Synchronization
import Testing

@testable import VODIngestCLI

@Suite("what ingest prints and counts", .serialized)
struct OutputTests {
    /// `--format json`: standard output is report.jsonl's rows (one per manifest row, the same
    /// fields), then `{"summary":...}`, and nothing else.
    @Test func jsonOutputIsTheReportRowsThenTheSummary() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let state = lib.path + "/state"
        let r = try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state, "--format", "json"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        var lines = r.stdout.split(separator: "\n").map(String.init)
        let last = lines.removeLast()
        let summary = try #require(try CLI.json(last)["summary"] as? [String: Any])
        #expect((summary["counts"] as? [String: Any])?["committed"] as? Int == 6)
        let report = try String(contentsOfFile: state + "/report.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == report)
        #expect(lines.count == 6)
        let first = try CLI.json(try #require(lines.first))
        for field in ["manifest", "line", "id", "path", "status", "file_id", "created_at"] {
            #expect(first[field] != nil, "report field \(field)")
        }

        // Run again: the rows are committed already, and the output is still one row per item.
        let again = try await CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state, "--format", "json"])
        #expect(again.status == 0, "\(again.stderr)")
        let rows = again.stdout.split(separator: "\n").dropLast().map { try? CLI.json(String($0)) }
        #expect(rows.count == 6 && rows.allSatisfy { $0?["status"] as? String == "committed" })
    }

    /// A run that stops early (`--max-failures`) counts the valid rows it did not attempt in
    /// summary.json's `counts.skipped`: the report's pending rows that were not in flight.
    @Test func rowsARunStoppedBeforeAreCountedAsSkipped() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<40 {
            try lib.write("m/\(i).mp4", bytes: MediaBytes.mp4 + [UInt8(i)])
            csv += "s\(i),m/\(i).mp4\n"
        }
        let manifest = try lib.write("s.csv", csv)
        let r = try await CLI.run(
            [
                "ingest", manifest, "--provider", "tencent", "--endpoint", "http://127.0.0.1:1", "--cos-endpoint", "http://127.0.0.1:1",
                "--state-dir", lib.path + "/state", "--concurrency", "1", "--max-failures", "2",
            ],
            environment: ["TENCENTCLOUD_SECRET_ID": "AKIDnotused", "TENCENTCLOUD_SECRET_KEY": "not-used"])
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        let summary = try CLI.json(try String(contentsOfFile: lib.path + "/state/summary.json", encoding: .utf8))
        let counts = try #require(summary["counts"] as? [String: Any])
        let pending = try #require(summary["pending"] as? Int)
        let rows = try reportRows(lib.path + "/state")
        #expect(pending == rows.count(where: { $0["status"] == "pending" }))
        #expect(pending > 0, "the run stopped before the end")
        #expect(counts["skipped"] as? Int == pending - (counts["interrupted"] as? Int ?? 0))
        #expect((counts["failed"] as? Int ?? 0) + pending == rows.count, "nothing is committed: every journalled row failed or waits")
    }

    /// The totals are the manifests' valid rows, counted before the first upload; on a nightly
    /// rerun the rows committed already are among them (done at once) and their bytes are not.
    @Test func theTotalsAreTheValidRowsCountedBeforeTheRun() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<3 {
            try lib.write("m/t\(i).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(i), count: 1000))
            csv += "t\(i),m/t\(i).mp4\n"
        }
        let manifest = try lib.write("t.csv", csv + "bad,m/missing.mp4\n")
        let state = lib.path + "/state"
        #expect(try await CLI.run(["ingest", manifest, "--state-dir", state]).status == 65)
        for i in 3..<5 {
            try lib.write("m/t\(i).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(i), count: 2000))
            csv += "t\(i),m/t\(i).mp4\n"
        }
        try lib.write("t.csv", csv)
        let again = try await CLI.run(["ingest", manifest, "--state-dir", state])
        #expect(again.status == 0, "\(again.stderr)")
        let counts = try #require(
            try CLI.json(String(contentsOfFile: state + "/summary.json", encoding: .utf8))["counts"] as? [String: Any])
        #expect(counts["items"] as? Int == 5)
        #expect(counts["alreadyCommitted"] as? Int == 3 && counts["committed"] as? Int == 2)
        #expect(counts["bytes"] as? Int == 2 * (MediaBytes.mp4.count + 2000), "only the new rows' bytes are to send")
    }

    /// No rate (and no ETA) in the first 3 s or before bytes move; then the rate over the last 30 s.
    @Test func theETAWaitsForARateWorthTheName() {
        var rate = RateEstimate()
        rate.add(seconds: 0.5, bytes: 10_000_000)
        #expect(rate.bytesPerSecond == nil && rate.eta(remaining: 1) == nil, "one burst in the first second is no rate")
        rate.add(seconds: 3, bytes: 30_000_000)
        #expect(rate.bytesPerSecond == 10_000_000)
        #expect(rate.eta(remaining: 50_000_000) == 5)
        for second in 4...60 { rate.add(seconds: Double(second), bytes: 30_000_000 + Int64(second - 3) * 1_000_000) }
        #expect(abs((rate.bytesPerSecond ?? 0) - 1_000_000) < 1, "the window forgets the fast start")
        #expect(rate.eta(remaining: 0) == 0)
        var idle = RateEstimate()
        idle.add(seconds: 5, bytes: 0)
        #expect(idle.bytesPerSecond == nil)
    }

    @Test func statusAddresses() {
        #expect(StatusAddress(parsing: "9100") == StatusAddress(parsing: "127.0.0.1:9100"))
        #expect(StatusAddress(parsing: ":9100")?.host == "127.0.0.1")
        #expect(StatusAddress(parsing: "[::1]:0")?.host == "::1")
        #expect(StatusAddress(parsing: "0.0.0.0:9100")?.isLoopback == false)
        #expect(StatusAddress(parsing: "nope") == nil && StatusAddress(parsing: "1:70000") == nil)
    }

    /// A run that stops with validated batches not taken (a journal error, a full disk) releases
    /// the manifest stream with its back-pressure slots held: libdispatch trapped (SIGILL) on the
    /// semaphore's release. The stream gives them back; this test crashed the test process before.
    @Test func aStreamReleasedWithBatchesNotTakenDoesNotTrap() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<(ManifestStream.batchSize * 3) { csv += "r\(i),m/\(i).mp4\n" }
        let manifest = try lib.write("many.csv", csv)
        let pipeline = ManifestPipeline(
            options: ValidationOptions(profile: .tencent, fileChecks: false, checksums: false, buildsItems: true), rootOverride: lib.path)
        var ended = false
        do {
            let stream = ManifestStream(capacity: 1)
            stream.start(pipeline: pipeline, manifests: [manifest], fingerprints: [:])
            var iterator = stream.batches.makeAsyncIterator()
            let first = await iterator.next()
            #expect(first != nil)
            // The first batch is never marked taken; the thread waits for a slot, then is cancelled.
            try await Task.sleep(for: .milliseconds(200))
            stream.cancel()
            for _ in 0..<100 where !stream.ended.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(50)) }
            ended = stream.ended.load(ordering: .acquiring)
        }
        #expect(ended, "the validating thread stops once cancelled")
    }
}
