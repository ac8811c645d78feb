import Benchmark
import Crypto
import Foundation
import IngestCore
import JournalSQLite
import Manifests
import VendorSigning

// The hot paths a run goes through for every row, request and byte: manifest parsing, the three
// signatures, the digests over 1 GiB, journal transitions. Numbers: `swift package benchmark`.

/// A manifest of `rows` rows written once to a temporary file.
func manifestFile(_ name: String, rows: Int) -> String {
    let path = NSTemporaryDirectory() + "vodingest-bench-\(name)"
    var text: String
    if name.hasSuffix(".csv") {
        text = "id,path,title,description,tags,category\n"
        for i in 0..<rows { text += "item-\(i),media/\(i).mp4,\"Title \(i)\",\"A description, with a comma\",a;b;c,7\n" }
    } else {
        text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest>\n"
        for i in 0..<rows {
            text +=
                "<item id=\"item-\(i)\"><path>media/\(i).mp4</path><title>Title \(i)</title><tags><tag>a</tag><tag>b</tag></tags></item>\n"
        }
        text += "</manifest>\n"
    }
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    return path
}

let benchmarks: @Sendable () -> Void = {
    let rows = 100_000
    let csv = manifestFile("rows.csv", rows: rows)
    let xml = manifestFile("rows.xml", rows: rows)
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .throughput])

    Benchmark("CSV manifest, 100k rows") { benchmark in
        var count = 0
        try CSVManifestReader(source: ByteSource(path: csv), manifest: "rows.csv").read { _ in count += 1 }
        blackHole(count)
    }
    Benchmark("XML manifest, 100k rows") { benchmark in
        var count = 0
        try XMLManifestReader(source: ByteSource(path: xml), manifest: "rows.xml").read { _ in count += 1 }
        blackHole(count)
    }

    let body = Array(#"{"MediaType":"mp4","MediaName":"Title","SourceContext":"vodingest:run:item-1"}"#.utf8)
    Benchmark("TC3-HMAC-SHA256 (ApplyUpload)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                TC3Signature.authorization(
                    secretID: "AKIDEXAMPLE", secretKey: "secret", service: "vod", timestamp: 1_700_000_000,
                    headers: [.init("content-type", "application/json; charset=utf-8"), .init("host", "vod.tencentcloudapi.com")],
                    body: body))
        }
    }
    Benchmark("COS q-sign (Upload Part)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                COSSignature.authorization(
                    secretID: "AKIDEXAMPLE", secretKey: "secret", method: "PUT", path: "/1500/media/f0.mp4",
                    query: [("partNumber", "3"), ("uploadId", "1700000000abcdef")],
                    headers: [("content-length", "16777216"), ("host", "b-1250000000.cos.ap-guangzhou.myqcloud.com")],
                    keyTime: "1700000000;1700003600"))
        }
    }
    Benchmark("OSS V1 (Upload Part)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            let toSign = OSSSignature.stringToSign(
                method: "PUT", headers: [("Date", "Wed, 01 May 2024 08:30:00 GMT"), ("x-oss-security-token", "token")],
                bucket: "outin-1", key: "sv/1/f0.mp4", query: [("partNumber", "3"), ("uploadId", "0004B9894A22E5B1888A1E29F823****")])
            blackHole(OSSSignature.authorization(accessKeyID: "STS.1", secret: "secret", stringToSign: toSign))
        }
    }

    // 1 GiB as 1024 updates of 1 MiB, as a transfer's chunks arrive.
    let mib = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
    for i in 0..<mib.count { mib[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
    let chunk = UnsafeRawBufferPointer(mib)
    let gib = Benchmark.Configuration(metrics: [.wallClock, .cpuTotal, .throughput], maxIterations: 5)
    Benchmark("MD5 over 1 GiB", configuration: gib) { _ in
        var md5 = Insecure.MD5()
        for _ in 0..<1024 { md5.update(bufferPointer: chunk) }
        blackHole(md5.finalize())
    }
    Benchmark("CRC-64/ECMA over 1 GiB (folded, PCLMULQDQ)", configuration: gib) { _ in
        var crc = CRC64()
        for _ in 0..<1024 { crc.update(chunk) }
        blackHole(crc.value)
    }
    Benchmark("CRC-64/ECMA over 1 GiB (byte table)", configuration: gib) { _ in
        var value: UInt64 = 0
        for _ in 0..<1024 { value ^= CRC64.tableValue(chunk) }
        blackHole(value)
    }

    // Journal: one item through its five durable transitions.
    Benchmark("journal: pending → committed, 1000 items", configuration: .init(maxIterations: 10)) { benchmark in
        let directory = NSTemporaryDirectory() + "vodingest-bench-journal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try SQLiteJournal(directory: directory)
        let manifest = ManifestFingerprint(name: "bench.csv", path: "/library/bench.csv", sha256: nil)
        try await journal.begin(RunRecord(id: "bench", startedAt: 0, toolVersion: "bench", manifests: [manifest], options: [:]))
        let items = (0..<1000).map { i in
            IngestItem(
                location: SourceLocation(manifest: "bench.csv", line: i + 2), id: "item-\(i)",
                media: FileReference(
                    given: "media/\(i).mp4", resolved: "/library/media/\(i).mp4", size: Int64(1_000_000 + i), modified: 1_700_000_000,
                    fileExtension: "mp4"),
                mediaType: "mp4", cover: nil, title: "Item \(i)", description: nil, tags: [], category: nil, procedure: nil,
                storageRegion: nil, expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
        }
        let registrations = try await journal.register(
            items, manifest: manifest, runID: "bench", sourceContexts: items.map { "vodingest:bench:\($0.id)" },
            values: items.map { RowValues($0).encoded }, reopenDuplicates: false)
        let expires = Int64(Date().timeIntervalSince1970) + 3600
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, registration) in registrations.enumerated() {
                guard case .start(let key, _) = registration else { continue }
                group.addTask {
                    let session = UploadSession(
                        sessionKey: "s-\(i)",
                        media: ObjectLocation(bucket: "b-1250000000", region: "ap-guangzhou", key: "1500/\(i)/f0.mp4"),
                        cover: nil,
                        credentials: TemporaryCredentials(secretID: "AKID", secretKey: "secret", token: "t", expiresAt: expires),
                        requestID: "r-\(i)")
                    try await journal.record(key, from: .pending, .applied(session, item: items[i], sourceContext: "vodingest:bench:\(i)"))
                    try await journal.record(key, from: .applied, .uploaded(md5: nil, crc64: "1"))
                    try await journal.record(key, from: .uploaded, .committing)
                    try await journal.record(
                        key, from: .committing,
                        .committed(RemoteMedia(fileID: "F\(i)", mediaURL: nil, coverURL: nil, requestID: "c-\(i)"), recovered: false))
                }
            }
            try await group.waitForAll()
        }
        benchmark.stopMeasurement()
    }
}
