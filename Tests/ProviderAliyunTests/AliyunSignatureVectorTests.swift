import Foundation
import Testing

@testable import VendorSigning

/// The vectors produced by the official Alibaba SDKs (aliyunsdkcore, alibabacloud_vod20170321,
/// oss2), copied from ../shared/vectors into Fixtures/.
enum AliyunVectors {
    nonisolated(unsafe) static let document: [String: Any] = {
        let url = Bundle.module.url(forResource: "aliyun-signatures", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()
    static func list(_ name: String) -> [[String: Any]] { document[name] as! [[String: Any]] }
    static func named(_ list: String, _ name: String) -> [String: Any] {
        self.list(list).first { $0["name"] as? String == name }!
    }
    static func names(_ list: String) -> [String] { self.list(list).map { $0["name"] as! String } }
}

@Suite("Alibaba signatures against the official SDK vectors")
struct AliyunSignatureVectorTests {
    @Test func allVectorsArePresent() {
        #expect(AliyunVectors.names("rpc_v1").count == 7)
        #expect(AliyunVectors.names("rpc_v3").count == 2)
        #expect(AliyunVectors.names("oss").count == 8)
    }

    @Test(arguments: AliyunVectors.names("rpc_v1"))
    func rpcV1(name: String) throws {
        let v = AliyunVectors.named("rpc_v1", name)
        let params = (v["signed_params"] as! [String: String]).map { ($0.key, $0.value) }
        let stringToSign = AliyunRPCSignature.stringToSign(method: v["http_method"] as! String, parameters: params)
        #expect(stringToSign == v["string_to_sign"] as! String)
        #expect(
            AliyunRPCSignature.signature(secret: v["access_key_secret"] as! String, stringToSign: stringToSign) == v["signature"] as! String
        )
        // What the SDK sends decodes to the same parameters and signature.
        let sent = v["request_path_and_query"] as! String
        let query = String(sent.split(separator: "?", maxSplits: 1)[1])
        var decoded: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            decoded[String(kv[0]).removingPercentEncoding!] = kv.count > 1 ? String(kv[1]).removingPercentEncoding! : ""
        }
        #expect(decoded["Signature"] == v["signature"] as? String)
        // The client's own query carries the same signature for the same parameters.
        let ours = AliyunRPCSignature.signedQuery(method: "POST", parameters: params, secret: v["access_key_secret"] as! String).query
        #expect(ours.hasSuffix("Signature=" + AliyunRPCSignature.encode(v["signature"] as! String)))
    }

    @Test(arguments: AliyunVectors.names("rpc_v3"))
    func rpcV3(name: String) throws {
        let v = AliyunVectors.named("rpc_v3", name)
        let headers = (v["headers_signed"] as! [String: String]).map { ($0.key, $0.value) }
        let query = (v["query"] as! [String: String]).map { ($0.key, $0.value) }
        let canonical = ACS3Signature.canonicalRequest(
            method: v["http_method"] as! String, path: v["pathname"] as! String, query: query, headers: headers,
            payloadHash: Hex.sha256(Array((v["body"] as! String).utf8)))
        #expect(canonical == v["canonical_request"] as! String)
        let stringToSign = ACS3Signature.stringToSign(canonicalRequest: canonical)
        #expect(stringToSign == v["string_to_sign"] as! String)
        let parsed = try #require(ACS3Signature.parse(authorization: v["authorization"] as! String))
        #expect(parsed.accessKeyID == v["access_key_id"] as! String)
        #expect(parsed.signedHeaders.sorted() == headers.map(\.0).sorted())
        #expect(ACS3Signature.signature(secret: v["access_key_secret"] as! String, stringToSign: stringToSign) == parsed.signature)
    }

    @Test(arguments: AliyunVectors.names("oss").filter { $0.hasPrefix("oss_v1") })
    func ossV1(name: String) throws {
        let v = AliyunVectors.named("oss", name)
        let headers = (v["headers_after_signing"] as! [String: String]).map { ($0.key, $0.value) }
        let query = (v["params"] as! [String: String]).map { ($0.key, $0.value) }
        let stringToSign = OSSSignature.stringToSign(
            method: v["http_method"] as! String, headers: headers, bucket: v["bucket"] as! String, key: v["key"] as! String, query: query)
        #expect(stringToSign == v["string_to_sign"] as! String)
        let authorization = v["authorization"] as! String
        let parsed = try #require(OSSSignature.parse(authorization: authorization))
        let secret =
            parsed.accessKeyID.hasPrefix("STS.")
            ? (AliyunVectors.document["extras"] as! [String: Any])["upload_auth_example_decoded"].flatMap {
                ($0 as! [String: String])["AccessKeySecret"]
            }!
            : AliyunVectors.named("rpc_v1", "rpc_v1_CreateUploadVideo_full")["access_key_secret"] as! String
        #expect(OSSSignature.authorization(accessKeyID: parsed.accessKeyID, secret: secret, stringToSign: stringToSign) == authorization)
        // The key in oss2's URL, `/` as %2F.
        let url = v["request_url"] as! String
        #expect(url.hasSuffix("/" + OSSSignature.encodeKey(v["key"] as! String)))
        #expect(
            OSSSignature.parseHTTPDate(headers.first { $0.0 == "date" }!.1).map(OSSSignature.httpDate)
                == headers.first { $0.0 == "date" }!.1)
    }

    @Test func ossV4() throws {
        let v = AliyunVectors.named("oss", "oss_v4_UploadPart_sts")
        let headers = (v["headers_after_signing"] as! [String: String]).filter { $0.key != "authorization" }.map { ($0.key, $0.value) }
        let query = (v["params"] as! [String: String]).map { ($0.key, $0.value) }
        let canonical = OSSV4Signature.canonicalRequest(
            method: "PUT", bucket: v["bucket"] as! String, key: v["key"] as! String, query: query, headers: headers)
        #expect(canonical == v["canonical_request"] as! String)
        let parsed = try #require(OSSV4Signature.parse(authorization: v["authorization"] as! String))
        let dateTime = headers.first { $0.0 == "x-oss-date" }!.1
        let stringToSign = OSSV4Signature.stringToSign(
            dateTime: dateTime, scope: OSSV4Signature.scope(date: parsed.day, region: parsed.region), canonicalRequest: canonical)
        #expect(stringToSign == v["string_to_sign"] as! String)
        let secret = ((AliyunVectors.document["extras"] as! [String: Any])["upload_auth_example_decoded"] as! [String: String])[
            "AccessKeySecret"]!
        #expect(
            OSSV4Signature.signature(secret: secret, day: parsed.day, region: parsed.region, stringToSign: stringToSign) == parsed.signature
        )
    }

    @Test func crc64() {
        let extras = AliyunVectors.document["extras"] as! [String: Any]
        var crc = CRC64()
        crc.update(Array("123456789".utf8))
        #expect(String(crc.value) == extras["crc64ecma_of_ascii_123456789"] as! String)
        // Combined from two pieces, as a multipart object's CRC is from its parts'.
        var a = CRC64()
        a.update(Array("12345".utf8))
        var b = CRC64()
        b.update(Array("6789".utf8))
        #expect(CRC64.combine(a.value, b.value, lengthOfB: 4) == crc.value)
        #expect(CRC64.combine(a.value, CRC64().value, lengthOfB: 0) == a.value)
        // Slicing-by-8 and the byte-at-a-time tail agree on every split of a longer input.
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var whole = CRC64()
        whole.update(long)
        for split in [0, 1, 7, 8, 9, 333, 999] {
            var x = CRC64()
            x.update(long[..<split])
            var y = CRC64()
            y.update(long[split...])
            #expect(CRC64.combine(x.value, y.value, lengthOfB: Int64(1000 - split)) == whole.value, "split \(split)")
        }
        // The folded (PCLMULQDQ) path and the byte table agree on every length and alignment around
        // the 16- and 64-byte block edges, and on a large buffer.
        var generator = SystemRandomNumberGenerator()
        let random = (0..<(1 << 20) + 77).map { _ in UInt8.random(in: 0...255, using: &generator) }
        random.withUnsafeBytes { all in
            for offset in 0..<4 {
                for length in Array(0..<300) + [4095, 65_536, 1 << 20] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    var folded = CRC64()
                    folded.update(slice)
                    #expect(folded.value == CRC64.tableValue(slice), "offset \(offset), length \(length)")
                }
            }
        }
        // The date OSS V1 signs, without a DateFormatter.
        #expect(OSSSignature.httpDate(Date(timeIntervalSince1970: 1_714_552_200)) == "Wed, 01 May 2024 08:30:00 GMT")
        #expect(OSSSignature.parseHTTPDate("Wed, 01 May 2024 08:30:00 GMT")?.timeIntervalSince1970 == 1_714_552_200)
        #expect(OSSSignature.parseCompactDate("20240501T083000Z")?.timeIntervalSince1970 == 1_714_552_200)
    }
}

/// The HMAC the refusal tests sign with.
enum VendorSigningBridge {
    static func hmacSHA1Base64(key: String, _ text: String) -> String { OSSSignature.signature(secret: key, stringToSign: text) }
}
