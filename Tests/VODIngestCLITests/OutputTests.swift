import Foundation
import IngestTesting
import Manifests
import Testing

@Suite("what ingest prints and counts", .serialized)
struct OutputTests {
    /// `--format json`: standard output is report.jsonl's rows (one per manifest row, the same
    /// fields), then `{"summary":...}`, and nothing else.
    @Test func jsonOutputIsTheReportRowsThenTheSummary() throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let state = lib.path + "/state"
        let r = try CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state, "--format", "json"])
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
        let again = try CLI.run(["ingest", "samples/good.csv", "samples/good.xml", "--state-dir", state, "--format", "json"])
        #expect(again.status == 0, "\(again.stderr)")
        let rows = again.stdout.split(separator: "\n").dropLast().map { try? CLI.json(String($0)) }
        #expect(rows.count == 6 && rows.allSatisfy { $0?["status"] as? String == "committed" })
    }

    /// A run that stops early (`--max-failures`) counts the valid rows it did not attempt in
    /// summary.json's `counts.skipped`: the report's pending rows that were not in flight.
    @Test func rowsARunStoppedBeforeAreCountedAsSkipped() throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        var csv = "id,path\n"
        for i in 0..<40 {
            try lib.write("m/\(i).mp4", bytes: MediaBytes.mp4 + [UInt8(i)])
            csv += "s\(i),m/\(i).mp4\n"
        }
        let manifest = try lib.write("s.csv", csv)
        let r = try CLI.run(
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
}
