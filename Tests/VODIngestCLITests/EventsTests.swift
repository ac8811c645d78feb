import Foundation
import IngestTesting
import Testing

/// `ingest --wait-events` and `vodingest events`, as a user runs them: on the default path (the
/// embedded emulator) and against a standalone one, on both platforms.
@Suite("processing events end to end: --wait-events and vodingest events", .serialized)
struct EventsTests {
    typealias Path = DeltaTests.Path

    final class Setup {
        let lib: TemporaryDirectory
        let path: Path
        let emulator: StandaloneEmulator?
        let manifest: String
        var state: String { lib.path + "/state" }

        init(_ path: Path, rows: Int = 3) throws {
            lib = try TemporaryDirectory()
            self.path = path
            var csv = "id,path,title\n"
            for i in 0..<rows {
                _ = try lib.write("m/e\(i).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(i), count: 100 + i))
                csv += "e\(i),m/e\(i).mp4,Event \(i)\n"
            }
            manifest = try lib.write("events.csv", csv)
            emulator = path.embedded ? nil : try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--processing-delay", "1"])
        }

        deinit { lib.remove() }

        func ingest(_ extra: [String]) async throws -> CLI.Result {
            try await CLI.run(
                ["ingest", manifest, "--state-dir", state] + path.platformArguments(emulator, storage: true) + extra,
                environment: path.environment(emulator))
        }

        func events(_ extra: [String] = []) async throws -> CLI.Result {
            try await CLI.run(
                ["events", "--state-dir", state] + path.platformArguments(emulator, storage: false) + extra,
                environment: path.environment(emulator))
        }

        /// Every row's processing columns say the platform is done with it.
        func expectDone() throws {
            let rows = try reportRows(state)
            #expect(rows.count == 3)
            for row in rows {
                #expect(row["upload_event_at"]?.isEmpty == false, "\(row)")
                if path.aliyun {
                    #expect(row["procedure_status"] == "Normal", "\(row)")
                } else {
                    #expect(row["procedure_task_id"]?.isEmpty == false && row["procedure_status"] == "FINISH", "\(row)")
                }
                #expect((row["procedure_status_at"] ?? "") >= (row["upload_event_at"] ?? "~"), "\(row)")
            }
        }
    }

    @Test(arguments: Path.allCases)
    func waitEventsPutsTheProcessingStatusInTheReport(path: Path) async throws {
        let setup = try Setup(path)
        let r = try await setup.ingest(["--wait-events", "--procedure", "QuickTranscode", "--events-timeout", "60"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("events: 3 media awaited, 3 done (0 failed processing), 0 still awaited"), "\(r.stdout)")
        try setup.expectDone()
        let summary = try CLI.json(try String(contentsOfFile: setup.state + "/summary.json", encoding: .utf8))
        let events = try #require(summary["events"] as? [String: Any])
        #expect(events["done"] as? Int == 3 && events["waiting"] as? Int == 0)
        let calls = try #require(events["apiCallsByAction"] as? [String: Int])
        #expect(
            path.aliyun ? calls["GetVideoInfos"] ?? 0 >= 1 : calls["PullEvents"] ?? 0 >= 1 && calls["ConfirmEvents"] ?? 0 >= 1, "\(calls)")
    }

    @Test(arguments: Path.allCases)
    func eventsLaterFinishesWhatATimeoutLeft(path: Path) async throws {
        let setup = try Setup(path)
        // No time to wait: every media still awaited, exit 75.
        let first = try await setup.ingest(["--wait-events", "--procedure", "QuickTranscode", "--events-timeout", "0"])
        #expect(first.status == 75, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout.contains("3 still awaited"), "\(first.stdout)")
        #expect(try reportRows(setup.state).allSatisfy { $0["procedure_status"] == "" })
        let later = try await setup.events(["--events-timeout", "60"])
        #expect(later.status == 0, "\(later.stdout)\(later.stderr)")
        try setup.expectDone()
        // Nothing left to wait for: at once, exit 0.
        let again = try await setup.events()
        #expect(again.status == 0 && again.stdout.contains("0 media awaited"), "\(again.stdout)")
    }

    /// `vodingest emulator --processing-delay` is the knob the events wait on: the emulator runs with it.
    @Test func theEmulatorsProcessingDelayFlagIsItsConfiguration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: dir.path + "/emu", extra: ["--processing-delay", "7.5"])
        let config = try #require(try await emulator.get("/_emulator/config") as? [String: Any])
        #expect((config["processingDelaySeconds"] as? NSNumber)?.doubleValue == 7.5, "\(config)")
        let refused = try await CLI.run(["emulator", "--processing-delay", "-1", "--data-dir", dir.path + "/x"])
        #expect(refused.status == 64, "\(refused.stderr)")
    }

    @Test func eventOptionsNeedWaitEvents() async throws {
        let r = try await CLI.run(["ingest", "samples/good.csv", "--confirm-foreign", "--state-dir", "/tmp/never"])
        #expect(r.status == 64 && r.stderr.contains("--wait-events"), "\(r.stderr)")
        let none = try await CLI.run(["events", "--state-dir", "/tmp/vodingest-no-such-state"])
        #expect(none.status == 66 && none.stderr.contains("has no journal"), "\(none.stderr)")
    }
}
