import Foundation
import IngestCore
import IngestEngine
import IngestTesting
import Manifests
import Testing

@Suite("Planner")
struct PlannerTests {
    func item(_ id: String, size: Int64, cover: Int64? = nil) -> IngestItem {
        IngestItem(
            location: SourceLocation(manifest: "m.csv", line: 2), id: id,
            media: FileReference(given: "\(id).mp4", resolved: "/r/\(id).mp4", size: size, modified: 0, fileExtension: "mp4"),
            mediaType: "mp4",
            cover: cover.map { FileReference(given: "\(id).jpg", resolved: "/r/\(id).jpg", size: $0, modified: 0, fileExtension: "jpg") },
            title: id, description: nil, tags: [], category: nil, procedure: nil, storageRegion: nil, expireTime: nil,
            sourceContext: nil, md5: nil, sha256: nil, meta: [])
    }

    @Test func totalsPartsAndCalls() {
        var planner = Planner(options: PlanOptions(profile: .tencent, partSize: 16 << 20))
        planner.add(item("small", size: 1000, cover: 500))
        planner.add(item("big", size: 100 << 20))
        planner.addInvalid()
        let plan = planner.finish(manifests: ["m.csv"])
        #expect(plan.rows == 3)
        #expect(plan.items == 2)
        #expect(plan.invalid == 1)
        #expect(plan.mediaBytes == 1000 + (100 << 20))
        #expect(plan.covers == 1)
        #expect(plan.bytes == plan.mediaBytes + 500)
        #expect(plan.simpleUploads == 2)  // small media + cover
        #expect(plan.multipartUploads == 1)
        #expect(plan.parts == 7)
        #expect(plan.storageRequests == 2 + 9)
        #expect(plan.apiCalls == 4)  // ApplyUpload + CommitUpload per item
        #expect(plan.largest?.id == "big")
    }

    @Test func anHLSPackageCountsEveryFileAsAPut() {
        var package = item("show", size: 200)
        package.segments = (0..<5).map { i in
            IngestItem.Segment(
                relative: "s\(i).ts",
                file: FileReference(given: "s\(i).ts", resolved: "/r/s\(i).ts", size: 1000, modified: 0, fileExtension: "ts"))
        }
        var planner = Planner(options: PlanOptions(profile: .tencent, partSize: 16 << 20))
        planner.add(package)
        let plan = planner.finish(manifests: ["m.csv"])
        #expect(plan.items == 1 && plan.packageFiles == 5 && plan.mediaBytes == 200 + 5000)
        #expect(plan.simpleUploads == 6 && plan.storageRequests == 6 && plan.apiCalls == 2)
    }

    @Test func estimateNamesTheBottleneck() {
        // 1,000 tiny files: the API rate decides.
        var manyTiny = Planner(options: PlanOptions(profile: .tencent, apiRate: 100, bandwidth: 100_000_000))
        for i in 0..<1000 { manyTiny.add(item("t\(i)", size: 10_000)) }
        let a = manyTiny.finish(manifests: [])
        #expect(a.estimate.bottleneck == "api-rate")
        #expect(abs(a.estimate.seconds - 20) < 0.001)  // 2,000 calls at 100/s

        // One huge file: bandwidth decides.
        var oneHuge = Planner(options: PlanOptions(profile: .tencent, apiRate: 100, bandwidth: 100_000_000))
        oneHuge.add(item("h", size: 10_000_000_000))
        let b = oneHuge.finish(manifests: [])
        #expect(b.estimate.bottleneck == "bandwidth")
        #expect(abs(b.estimate.seconds - 100) < 0.001)
        #expect(!b.bandwidthAssumed)
    }

    @Test func filesThatOutliveUnrefreshableCredentialsAreNamed() {
        // 8 files in flight share 8 MB/s: 1 MB/s each; Tencent's credentials last 1800 s.
        var tencent = Planner(options: PlanOptions(profile: .tencent, concurrency: 8, bandwidth: 8_000_000))
        tencent.add(item("small", size: 1_000_000_000))
        tencent.add(item("huge", size: 2_000_000_000))
        tencent.add(item("bigger", size: 3_000_000_000))
        let risk = tencent.finish(manifests: []).credentialRisk
        #expect(risk?.count == 2 && risk?.lifetimeSeconds == 1800)
        #expect(risk?.examples.map(\.id) == ["bigger", "huge"])
        // Alibaba refreshes them in place: nothing is at risk.
        var aliyun = Planner(options: PlanOptions(profile: .aliyun, concurrency: 8, bandwidth: 8_000_000))
        aliyun.add(item("bigger", size: 3_000_000_000))
        #expect(aliyun.finish(manifests: []).credentialRisk == nil)
    }

    @Test func aliyunCountsACallPerCover() {
        var planner = Planner(options: PlanOptions(profile: .aliyun))
        planner.add(item("a", size: 10, cover: 10))
        // CreateUploadImage, CreateUploadVideo, GetMezzanineInfo.
        #expect(planner.finish(manifests: []).apiCalls == 3)
    }
}
