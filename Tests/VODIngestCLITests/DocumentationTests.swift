import Foundation
import IngestTesting
import Testing

@Suite("documentation")
struct DocumentationTests {
    /// Every relative link of README.md and docs/*.md names a file or folder inside the repository
    /// (and an anchor of the same page names one of its headings).
    @Test func everyLinkResolvesInsideTheRepository() async throws {
        let root = CLI.root
        let docs = try FileManager.default.contentsOfDirectory(atPath: root + "/docs").filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let pages = ["README.md"] + docs
        let link = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        var checked = 0
        for page in pages {
            let text = try String(contentsOfFile: root + "/" + page, encoding: .utf8)
            let folder = (page as NSString).deletingLastPathComponent
            let anchors = Set(
                text.split(separator: "\n").filter { $0.hasPrefix("#") }.map { heading in
                    String(heading.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)).lowercased()
                        .filter { $0.isLetter || $0.isNumber || $0 == " " || $0 == "-" || $0 == "_" }.replacingOccurrences(
                            of: " ", with: "-")
                })
            for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text) else { continue }
                let target = String(text[range])
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") { continue }
                checked += 1
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                if parts[0].isEmpty {
                    #expect(anchors.contains(parts[1]), "\(page): the anchor #\(parts[1]) names no heading")
                    continue
                }
                let resolved = URL(fileURLWithPath: root + "/" + (folder.isEmpty ? "" : folder + "/") + parts[0]).standardizedFileURL.path
                #expect(resolved.hasPrefix(root + "/"), "\(page): \(target) points outside the repository")
                #expect(FileManager.default.fileExists(atPath: resolved), "\(page): \(target) does not exist")
            }
        }
        #expect(checked > 10, "the links were found")
    }
}
