import Testing

@testable import IngestCore

@Suite("Boxed values keep value semantics")
struct CopyOnWriteTests {
    @Test func aCopyIsUnaffectedByWritesToTheOriginal() {
        var row = ManifestRow(location: SourceLocation(manifest: "m.csv", line: 2), path: "a.mp4", tags: ["x"])
        let copy = row
        row.path = "b.mp4"
        row.tags.append("y")
        #expect(copy.path == "a.mp4" && copy.tags == ["x"])
        #expect(row.path == "b.mp4" && row.tags == ["x", "y"])
        #expect(row != copy)
        var back = row
        back.path = "a.mp4"
        back.tags = ["x"]
        #expect(back == copy)
        #expect(back.hashValue == copy.hashValue)
    }

    @Test func itemsToo() {
        let media = FileReference(given: "a.mp4", resolved: "/r/a.mp4", size: 1, modified: nil, fileExtension: "mp4")
        var item = IngestItem(
            location: SourceLocation(manifest: "m.csv", line: 2), id: "a", media: media, mediaType: "mp4", cover: nil,
            title: "A", description: nil, tags: [], category: nil, procedure: nil, storageRegion: nil,
            expireTime: nil, sourceContext: nil, md5: nil, sha256: nil, meta: [])
        let copy = item
        item.media.size = 5
        item.title = "B"
        #expect(copy.media.size == 1 && copy.title == "A")
        #expect(item.media.size == 5 && item.title == "B")
    }
}
