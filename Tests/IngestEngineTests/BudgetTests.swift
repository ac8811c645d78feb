import Foundation
import IngestCore
import Testing

@testable import IngestEngine

@Suite("API budget per action and files in flight")
struct BudgetTests {
    @Test func eachActionHasItsOwnBucketAndSlowsDownAlone() async {
        let budget = RateBudget(rates: ProviderProfile.tencent.actionRates(region: nil), defaultRate: 100, cap: nil)
        #expect(budget.rate(of: "ApplyUpload") == 100 && budget.rate(of: "CommitUpload") == 100)
        // Two calls per item, one of each action: the items' rate is each action's, not half of a shared one.
        #expect(budget.itemRate(["ApplyUpload": 1, "CommitUpload": 1]) == 100)
        await budget.throttled("ApplyUpload")
        #expect(await budget.limiter("ApplyUpload")?.rate == 50)
        #expect(await budget.limiter("CommitUpload")?.rate == 100, "CommitUpload keeps its rate")
        // --api-rate caps all actions together.
        let capped = RateBudget(rates: ["ApplyUpload": 100, "CommitUpload": 100], defaultRate: 100, cap: 50)
        #expect(capped.itemRate(["ApplyUpload": 1, "CommitUpload": 1]) == 25)
        #expect(capped.rate(of: "ApplyUpload") == 50)
    }

    @Test func alibabaBudgetsDependOnTheRegion() {
        let profile = ProviderProfile.aliyun
        #expect(profile.actionRates(region: "cn-shanghai")["CreateUploadVideo"] == 80)
        #expect(profile.actionRates(region: nil)["CreateUploadVideo"] == 80)
        #expect(profile.actionRates(region: "eu-central-1")["CreateUploadVideo"] == 40)
        #expect(profile.actionRates(region: "eu-central-1")["CreateUploadImage"] == 100)
        #expect(profile.knownActions.isSuperset(of: ["CreateUploadVideo", "CreateUploadImage", "GetMezzanineInfo", "RefreshUploadVideo"]))
    }

    @Test func filesInFlightFollowLittlesLaw() {
        let controller = ConcurrencyController(cap: 64, adaptive: true)
        #expect(controller.limit(itemRate: 100) == 8, "the floor before anything was measured")
        controller.finished(seconds: 0.1, bytes: 65_536)
        // 100 items/s × 0.1 s × 1.5 headroom, + 2.
        #expect(controller.limit(itemRate: 100) == 17)
        for _ in 0..<50 { controller.finished(seconds: 0.4, bytes: 65_536) }
        #expect(controller.limit(itemRate: 100) == 62, "a far region's longer round trips raise it")
        for _ in 0..<50 { controller.finished(seconds: 2, bytes: 65_536) }
        #expect(controller.limit(itemRate: 100) == 64, "up to the cap")
        for _ in 0..<50 { controller.finished(seconds: 2, bytes: 256 << 20) }
        #expect(controller.limit(itemRate: 100) == 8, "large files share the link: the floor")
        let fixed = ConcurrencyController(cap: 5, adaptive: false)
        fixed.finished(seconds: 10, bytes: 1)
        #expect(fixed.limit(itemRate: 100) == 5)
        #expect(ConcurrencyController(cap: 3, adaptive: true).limit(itemRate: 100) == 3, "a cap below the floor wins")
    }

    @Test func thePlanUsesTheSameBudgets() {
        var planner = Planner(options: PlanOptions(profile: .tencent, bandwidth: 1e12))
        for i in 0..<1000 { planner.add(PlannerTests().item("t\(i)", size: 1000)) }
        let plan = planner.finish(manifests: ["m.csv"])
        // 1,000 ApplyUpload and 1,000 CommitUpload, each at its own 100/s: 10 s, not 20.
        #expect(plan.apiCalls == 2000 && plan.estimate.apiSeconds == 10 && plan.apiRate == 200)
        var capped = Planner(options: PlanOptions(profile: .tencent, apiRate: 50, bandwidth: 1e12))
        for i in 0..<1000 { capped.add(PlannerTests().item("t\(i)", size: 1000)) }
        #expect(capped.finish(manifests: ["m.csv"]).estimate.apiSeconds == 40)
    }
}

@Suite("rate limiter pacing")
struct RateLimiterTests {
    /// 20 requests at 50/s from 10 tasks at once: spaced evenly (no burst): the i-th request to go
    /// goes no earlier than i slots of 1/(50 × 0.99) s after the first.
    @Test func requestsArePacedWithoutBurst() async throws {
        let limiter = RateLimiter(rate: 50)
        let clock = ContinuousClock()
        let start = clock.now
        let times = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for _ in 0..<10 {
                group.addTask {
                    var seen: [Duration] = []
                    for _ in 0..<2 {
                        try await limiter.acquire()
                        seen.append(clock.now - start)
                    }
                    return seen
                }
            }
            return try await group.reduce(into: [Duration]()) { $0 += $1 }.sorted()
        }
        #expect(times.count == 20)
        let slot = 1.0 / (50 * 0.99)
        for i in 0..<times.count { #expect(times[i] >= .seconds(Double(i) * slot - 0.001), "request \(i): \(times)") }
    }
}
