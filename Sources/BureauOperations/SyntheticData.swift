public import BureauCore

/// Realistic synthetic people for tests and benchmarks: valid resident identity numbers (unique for
/// the first 300 million indexes), plausible names, phones and addresses, and accounts with 24-month
/// histories, about one in twenty of them late (with the legal basis and behaviour end that requires).
/// Deterministic: the same index and seed give the same person.
public struct SyntheticData: Sendable {
    /// Region codes with their province and city.
    static let regions: [(code: String, province: String, city: String)] = [
        ("110101", "北京市", "北京市"), ("110105", "北京市", "北京市"), ("310104", "上海市", "上海市"), ("310115", "上海市", "上海市"),
        ("440305", "广东省", "深圳市"), ("440106", "广东省", "广州市"), ("510107", "四川省", "成都市"), ("330106", "浙江省", "杭州市"),
        ("320102", "江苏省", "南京市"), ("420106", "湖北省", "武汉市"), ("610113", "陕西省", "西安市"), ("370102", "山东省", "济南市"),
        ("500103", "重庆市", "重庆市"), ("120101", "天津市", "天津市"), ("430104", "湖南省", "长沙市"),
    ]
    static let surnames = Array("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
    static let given = Array("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅文辉鹏飞玉兰晓东雪")
    static let streets = ["人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "长江路", "黄河路", "光明路"]

    public let furnishers: [UnifiedSocialCreditCode]
    public let seed: UInt64
    /// Synthetic data is dated as of this day (accounts open before it).
    public let today: CalendarDate

    public init(furnishers: [UnifiedSocialCreditCode], seed: UInt64 = 42, today: CalendarDate) {
        precondition(!furnishers.isEmpty)
        self.furnishers = furnishers
        self.seed = seed
        self.today = today
    }

    /// The person at `index`, with `accounts` accounts.
    public func person(_ index: Int, accounts count: Int = 3) -> SubjectLine {
        var rng = SplitMix(seed: self.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        let sequence = index % 1000
        let rest = index / 1000
        let day = rest % 20_000
        let region = Self.regions[(rest / 20_000) % Self.regions.count]
        // Born between 1950 and 2004: day offsets from 1950-01-01.
        let birth = CalendarDate(daysSinceEpoch: CalendarDate(year: 1950, month: 1, day: 1)!.daysSinceEpoch + day)
        let id = try! ResidentIdentityNumber.make(region: region.code, birthDate: birth, sequence: sequence)
        let name = String(Self.surnames[rng.next(Self.surnames.count)]) + String(Self.given[rng.next(Self.given.count)])
            + (rng.next(3) == 0 ? "" : String(Self.given[rng.next(Self.given.count)]))
        let phone = "1" + String([3, 5, 7, 8, 9][rng.next(5)]) + String(rng.next(10)) + Self.digits(8, &rng)
        let furnisher = self.furnishers[rng.next(self.furnishers.count)]
        var accounts: [SubjectLine.AccountLine] = []
        for k in 0..<count {
            accounts.append(self.account(k, of: id, born: birth, &rng))
        }
        return SubjectLine(
            furnisher: furnisher.value, kind: SubjectKind.individual.rawValue, identifier: id.value, name: name,
            date: birth.description, phone: phone,
            address: Address(province: region.province, city: region.city, detail: "\(Self.streets[rng.next(Self.streets.count)]) \(1 + rng.next(300)) 号"),
            legalRepresentative: nil, accounts: accounts, publicRecords: nil, listEntries: nil
        )
    }

    private func account(_ k: Int, of id: ResidentIdentityNumber, born: CalendarDate, _ rng: inout SplitMix) -> SubjectLine.AccountLine {
        let types: [AccountType] = [.creditCard, .mortgage, .personalLoan, .autoLoan]
        let type = k == 0 ? .creditCard : types[rng.next(types.count)]
        let adult = born.adding(years: 18)
        let earliest = max(adult.daysSinceEpoch, CalendarDate(year: 2005, month: 1, day: 1)!.daysSinceEpoch)
        let latest = self.today.daysSinceEpoch - 30
        let opened = CalendarDate(daysSinceEpoch: earliest >= latest ? latest : earliest + rng.next(latest - earliest))
        let limit: Int64 = switch type {
        case .creditCard: Int64(1 + rng.next(10)) * 1_000_000
        case .mortgage: Int64(50 + rng.next(300)) * 10_000_000
        case .autoLoan: Int64(5 + rng.next(30)) * 10_000_000
        default: Int64(1 + rng.next(20)) * 1_000_000
        }
        let balance = limit * Int64(rng.next(100)) / 100
        let late = rng.next(20) == 0
        let statuses: [AccountStatus] = [.late30, .late60, .late90, .late120Plus]
        let status: AccountStatus = late ? statuses[rng.next(statuses.count)] : .current
        var history = String(repeating: "0", count: 24)
        if late {
            let months = (statuses.firstIndex(of: status) ?? 0) + 1
            history = String(repeating: "0", count: 24 - months) + (1...months).map { String($0) }.joined()
        }
        let number = id.value.suffix(6) + String(k) + Self.digits(9, &rng)
        return SubjectLine.AccountLine(
            accountNumber: String(number), type: type.rawValue, opened: opened.description,
            limit: .init(minorUnits: limit, currency: "CNY"), balance: .init(minorUnits: balance, currency: "CNY"),
            status: status.rawValue, paymentHistory: history, closed: nil,
            legalBasis: late ? .init(documentNumber: "CONTRACT-\(number)", authority: "credit contract", date: opened.description) : nil,
            behaviourEnded: late ? CalendarDate(daysSinceEpoch: self.today.daysSinceEpoch - 1).description : nil
        )
    }

    static func digits(_ count: Int, _ rng: inout SplitMix) -> String {
        String((0..<count).map { _ in Character(String(rng.next(10))) })
    }
}

/// A small, fast, deterministic random generator (SplitMix64).
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func next(_ bound: Int) -> Int { Int(self.next() % UInt64(bound)) }
}

public import Foundation

extension SyntheticData {
    /// Writes people `0..<count` as JSON Lines (``SubjectLine``, sorted keys) to `handle`.
    public func writeLines(count: Int, accounts: Int = 3, to handle: FileHandle) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        var buffer = Data()
        for i in 0..<count {
            buffer.append(try encoder.encode(self.person(i, accounts: accounts)))
            buffer.append(0x0A)
            if buffer.count > 1 << 22 {
                handle.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        handle.write(buffer)
    }
}
