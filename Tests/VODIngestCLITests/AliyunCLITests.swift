import Foundation
import IngestTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("platforms end to end: Alibaba, signals on the default path, credential lifetimes", .serialized)
struct AliyunCLITests {
    /// Media files of `size` bytes with an MP4 header, distinct per index.
    func library(_ lib: TemporaryDirectory, count: Int, size: Int, covers: Bool = false, prefix: String = "a") throws -> String {
        var csv = "id,path,cover,title,tags,meta.n,description\n"
        for i in 0..<count {
            var bytes = MediaBytes.mp4
            bytes += (0..<(size - bytes.count)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            try lib.write("m/\(prefix)\(i).mp4", bytes: bytes)
            var cover = ""
            if covers, i % 2 == 0 {
                try lib.write("c/\(prefix)\(i).png", bytes: MediaBytes.png + [UInt8(i)])
                cover = "c/\(prefix)\(i).png"
            }
            csv += "\(prefix)\(i),m/\(prefix)\(i).mp4,\(cover),Title \(prefix)\(i),x;y,\(i),About \(prefix)\(i)\n"
        }
        return try lib.write("\(prefix).csv", csv)
    }

    func videos(_ emulator: StandaloneEmulator) async throws -> [[String: Any]] {
        try #require(try await emulator.get("/_emulator/videos") as? [[String: Any]])
    }

    /// The embedded emulator must never take the process's signals: SIGTERM on the default path
    /// stops the run (143), and the next run finishes every row exactly once.
    @Test(arguments: ["local", "local-aliyun"])
    func sigtermOnTheDefaultPath(provider: String) async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let manifest = try library(lib, count: 6, size: 2 << 20)
        let state = lib.path + "/state"
        let arguments = [
            "ingest", "--provider", provider, "--concurrency", "2", "--bandwidth", "2MiB/s", "--grace", "0", manifest, "--state-dir", state,
        ]
        func committed() async throws -> Int {
            try await CLI.run(["report", "--state-dir", state]).stdout.split(separator: "\n").count { $0.contains(",committed,") }
        }
        let run = try BackgroundRun(arguments, environment: [:], directory: lib, name: "a")
        #expect(try await eventually { try await committed() >= 1 }, "\(run.output)")
        kill(run.process.processIdentifier, SIGTERM)
        #expect(await run.wait() == 143, "\(run.output)")
        await #expect(try committed() < 6, "the signal was ignored: every row was committed")
        let again = try await CLI.run(["ingest", "--provider", provider, manifest, "--state-dir", state])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        // Exactly once, from the platform's own listing (the state directory's emulator data).
        let emulator = try StandaloneEmulator(dataDirectory: state + "/emulator")
        let path = provider == "local" ? "/_emulator/media" : "/_emulator/videos"
        let media = try #require(try await emulator.get(path) as? [[String: Any]])
        let titles = media.compactMap { ($0["name"] ?? $0["title"]) as? String }
        let uploaded = provider == "local" ? media.count : media.count { $0["md5"] != nil }
        #expect(titles.count == 6 && Set(titles).count == 6 && uploaded == 6, "\(titles.sorted())")
    }

    @Test func aliyunUnderFaultsCommitsEveryRowOnceWithItsMetadata() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(
            dataDirectory: lib.path + "/emu",
            extra: ["--fault-internal-error", "0.1", "--fault-slow-down", "0.05", "--fault-reset", "0.05", "--fault-complete", "0.2"])
        let small = try library(lib, count: 10, size: 40_000, covers: true, prefix: "s")
        let big = try library(lib, count: 2, size: (5 << 19) + 7, prefix: "b")
        let state = lib.path + "/state"
        let r = try await emulator.ingestAliyun([small, big, "--part-size", "1MiB", "--state-dir", state])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let rows = try reportRows(state)
        #expect(rows.count == 12 && rows.allSatisfy { $0["status"] == "committed" && $0["platform_status"] == "Normal" }, "\(rows)")
        let listed = try await videos(emulator)
        #expect(listed.count == 12, "one video per row, no orphan: \(listed.count)")
        for row in rows {
            let video = try #require(listed.first { $0["videoID"] as? String == row["file_id"] }, "\(row)")
            // What OSS holds is what was sent: every row's CRC-64 (checked by the store), and the MD5
            // where it came free (a simple PUT's ETag); a multipart row has none (a second read).
            #expect(video["crc64"] as? String == row["crc64"] && row["crc64"]?.isEmpty == false, "\(row["id"] ?? "")")
            if row["md5"]?.isEmpty == false { #expect(video["md5"] as? String == row["md5"], "\(row["id"] ?? "")") }
            #expect((row["md5"]?.isEmpty == false) == ((Int(row["size"] ?? "") ?? 0) <= 1 << 20), "\(row)")
            #expect(video["title"] as? String == "Title " + (row["id"] ?? ""))
            #expect(video["tags"] as? String == "x,y")
            #expect(video["description"] as? String == "About " + (row["id"] ?? ""), "CreateUploadVideo's Description")
            #expect((video["userData"] as? String)?.contains("\"Extend\":{\"n\":") == true)
            #expect(video["referenceID"] as? String == row["source_context"])
            let index = Int(row["id"]!.dropFirst())!
            #expect((video["coverURL"] != nil) == (row["id"]!.hasPrefix("s") && index % 2 == 0), "\(row["id"]!)")
        }
        let summary = try CLI.json(try String(contentsOfFile: state + "/summary.json", encoding: .utf8))
        let counts = try #require(summary["counts"] as? [String: Any])
        let byAction = try #require(counts["apiCallsByAction"] as? [String: Int])
        #expect(
            byAction["CreateUploadImage"] ?? 0 >= 5 && byAction["CreateUploadVideo"] ?? 0 >= 12 && byAction["GetMezzanineInfo"] ?? 0 >= 12)
        #expect((counts["retries"] as? Int ?? 0) >= 1)
        // The audit agrees, against the platform too.
        let audit = try await CLI.run(
            [
                "audit", small, big, "--report", state + "/report.csv", "--verify-remote", "--provider", "aliyun", "--endpoint",
                emulator.url,
            ],
            environment: emulator.aliyunEnvironment)
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
    }

    /// Every Alibaba run option reaches the platform: --workflow-id, --app-id, and the run-wide
    /// --procedure (TemplateGroupId), --storage-region (StorageLocation), --class-id (CateId);
    /// --oss-endpoint is where the bytes go.
    @Test func aliyunRunOptionsReachThePlatform() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        let manifest = try library(lib, count: 2, size: 5000, prefix: "o")
        let location = "outin-7a3f9c2e5b1d4e8fa6c0b9d2e4f1a3c5.oss-cn-shanghai.aliyuncs.com"
        let r = try await emulator.ingestAliyun([
            manifest, "--workflow-id", "wf-7", "--app-id", "app-2", "--procedure", "tg-1", "--storage-region", location, "--class-id", "77",
            "--state-dir", lib.path + "/state",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let listed = try await videos(emulator)
        #expect(listed.count == 2)
        for video in listed {
            #expect(video["workflowID"] as? String == "wf-7" && video["appID"] as? String == "app-2")
            #expect(video["templateGroupID"] as? String == "tg-1" && video["storageLocation"] as? String == location)
            #expect((video["cateID"] as? NSNumber)?.intValue == 77)
        }
        // OSS requests go to --oss-endpoint: nothing listens there, so the bytes cannot be sent.
        let elsewhere = try await emulator.ingestAliyun([
            manifest, "--oss-endpoint", "http://127.0.0.1:1", "--state-dir", lib.path + "/state2",
        ])
        #expect(elsewhere.status == 75 && elsewhere.stdout.contains("network.connection"), "\(elsewhere.stdout)")
    }

    /// Credentials that near their expiry mid-upload are refreshed in place (RefreshUploadVideo):
    /// the multipart upload goes on, and the row is one video.
    @Test func aliyunRefreshesCredentialsMidUpload() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        // 125 s credentials are within the 120 s margin after 5 s; the file takes about 8 s.
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--credential-lifetime", "125"])
        let manifest = try library(lib, count: 1, size: (2 << 20) + 11, prefix: "r")
        let state = lib.path + "/state"
        let r = try await emulator.ingestAliyun([
            manifest, "--part-size", "1MiB", "--part-concurrency", "1", "--bandwidth", "256KiB/s", "--state-dir", state,
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let counters = try #require(try await emulator.get("/_emulator/counters") as? [String: Any])
        let api = counters["apiCalls"] as? [String: Int] ?? [:]
        let storage = counters["cosRequests"] as? [String: Int] ?? [:]
        #expect(api["RefreshUploadVideo"] ?? 0 >= 1, "\(api)")
        // Each refresh is logged at notice (the default level), naming the row.
        let refreshes = r.stderr.split(separator: "\n").filter { $0.contains("notice vodingest.engine: upload credentials refreshed") }
        #expect(refreshes.count == api["RefreshUploadVideo"], "\(r.stderr)")
        #expect(refreshes.allSatisfy { $0.contains("item.id=r0") && $0.contains("action=RefreshUploadVideo") })
        #expect(api["CreateUploadVideo"] == 1 && storage["oss.InitiateMultipartUpload"] == 1, "\(api) \(storage)")
        let listed = try await videos(emulator)
        let reported = try reportRows(state).first?["crc64"]
        #expect(listed.count == 1 && listed.first?["crc64"] as? String == reported && reported?.isEmpty == false)
    }

    /// Tencent cannot refresh upload credentials: a file that cannot be sent before they expire,
    /// even at the whole --bandwidth, is refused before any byte moves, and plan names it.
    @Test func aTransferThatOutlivesTencentCredentialsIsRefusedUpFront() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu", extra: ["--credential-lifetime", "5"])
        let manifest = try library(lib, count: 1, size: 1 << 20, prefix: "t")
        let r = try await emulator.ingest([manifest, "--bandwidth", "100KiB/s", "--state-dir", lib.path + "/state"])
        #expect(r.status == 75, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("transfer.outlives-credentials") && r.stdout.contains("nothing was sent"), "\(r.stdout)")
        let counters = try #require(try await emulator.get("/_emulator/counters") as? [String: Any])
        #expect(counters["bytesReceived"] as? Int == 0)
        // The plan names it at the documented 30-minute lifetime: 1 MiB at 100 B/s each takes hours.
        let plan = try await CLI.run(["plan", manifest, "--bandwidth", "800B/s", "--concurrency", "8"])
        #expect(plan.stdout.contains("at risk") && plan.stdout.contains("t0.mp4"), "\(plan.stdout)")
        let alibaba = try await CLI.run(["plan", "--provider", "aliyun", manifest, "--bandwidth", "800B/s", "--concurrency", "8"])
        #expect(!alibaba.stdout.contains("at risk"), "Alibaba refreshes in place: \(alibaba.stdout)")
    }

    /// The Alibaba sample is valid for Alibaba, and Tencent says why not for Tencent; the Tencent
    /// samples say why not for Alibaba.
    @Test func samplesAreValidForTheirPlatform() async throws {
        #expect(try await CLI.run(["validate", "--provider", "aliyun", "samples/aliyun.csv"]).status == 0)
        #expect(try await CLI.run(["validate", "--provider", "local-aliyun", "samples/aliyun.csv"]).status == 0)
        let tencent = try await CLI.run(["validate", "--provider", "tencent", "samples/aliyun.csv"])
        let tencentText = tencent.stdout + tencent.stderr
        #expect(tencent.status == 65 && tencentText.contains("storage_region") && tencentText.contains("ap-chongqing"), "\(tencentText)")
        let alibaba = try await CLI.run(["validate", "--provider", "aliyun", "samples/good.csv", "samples/good.xml"])
        let alibabaText = alibaba.stdout + alibaba.stderr
        #expect(
            alibaba.status == 65 && alibabaText.contains("field.unsupported") && alibabaText.contains("StorageLocation"), "\(alibabaText)")
    }

    @Test func flagsOfAnotherPlatformAreRefused() async throws {
        let tencentFlag = try await CLI.run(["ingest", "--provider", "local-aliyun", "--sub-app-id", "5", "samples/aliyun.csv"])
        #expect(tencentFlag.status == 64 && tencentFlag.stderr.contains("--sub-app-id is not an option of Alibaba Cloud ApsaraVideo VOD"))
        let aliyunFlag = try await CLI.run(["ingest", "--provider", "local", "--workflow-id", "w", "samples/good.csv"])
        #expect(aliyunFlag.status == 64 && aliyunFlag.stderr.contains("--workflow-id is not an option of Tencent Cloud VOD"))
        for flag in ["--endpoint", "--region"] {
            let cloudOnly = try await CLI.run(["ingest", "--provider", "local-aliyun", flag, "cn-beijing", "samples/aliyun.csv"])
            #expect(cloudOnly.status == 64 && cloudOnly.stderr.contains("\(flag) is for the cloud"), "\(cloudOnly.stderr)")
        }
        let noKeys = try await CLI.run(
            ["ingest", "--provider", "aliyun", "samples/aliyun.csv"], environment: ["ALIBABA_CLOUD_ACCESS_KEY_ID": ""])
        #expect(noKeys.status == 64 && noKeys.stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
    }
}
