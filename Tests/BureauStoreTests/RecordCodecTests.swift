import BureauCore
import BureauStore
import Foundation
import Testing

/// The stored-value codec refuses malformed bytes with an error instead of trapping. The inputs are
/// the crashes FuzzEntries found (kept in Fuzz/Regressions/FuzzEntries).
@Suite struct RecordCodecTests {
    static let furnisher = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

    @Test func aStringLengthBeyondIntIsMalformed() {
        // Format 1, a person, then a name whose length varint is 2^63 or more.
        let bytes: [UInt8] = [0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(throws: (any Error).self) { try bytes.withUnsafeBytes { try RecordCodec.decodeIdentity($0) } }
    }

    @Test func aDateOutsideTheCalendarIsMalformed() {
        // Format 1, an account of type 0, then an opening date of Int64.max days (zigzag: all ones).
        let bytes: [UInt8] = [0x01, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        let reference = RecordReference(kind: .account, furnisher: Self.furnisher, recordID: "A1")
        #expect(throws: (any Error).self) { try bytes.withUnsafeBytes { try RecordCodec.decodeRecord(reference, $0) } }
    }

    @Test func theFirstAndLastDaysOfTheCalendarRoundTrip() throws {
        for day in [CalendarDate(year: 1, month: 1, day: 1)!, CalendarDate(year: 9999, month: 12, day: 31)!] {
            let statement = Statement(id: "S1", text: "note", added: day, about: nil)
            let back = try RecordCodec.encode(statement).withUnsafeBytes { try RecordCodec.decodeStatement(id: "S1", $0) }
            #expect(back == statement)
        }
    }

    static let person = PersonIdentity(
        name: "张伟", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
        phone: "13800000000", address: Address(province: "北京市", city: "北京市", detail: "人民路 1 号")
    )
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let lender = try! UnifiedSocialCreditCode(parsing: "911100001000000248")

    static func day(_ d: Int) -> CalendarDate { CalendarDate(year: 2026, month: 3, day: d)! }

    /// Three sources: one from before attribution and two furnishers', with different facts.
    static var sources: [IdentitySource] {
        var other = person
        other.phone = ""
        other.address.detail = "长安街 2 号"
        return [
            IdentitySource(attribution: nil, identity: .person(person)),
            IdentitySource(attribution: .init(furnisher: bank, firstReported: day(1), reported: day(9)), identity: .person(person)),
            IdentitySource(attribution: .init(furnisher: lender, firstReported: day(2), reported: day(2)), identity: .person(other)),
        ]
    }

    @Test func truncatedValuesAreMalformed() throws {
        let bytes = try RecordCodec.encode(Self.sources)
        #expect(try bytes.withUnsafeBytes { try RecordCodec.decodeIdentity($0) } == Self.sources)
        for length in 0..<bytes.count {
            #expect(throws: (any Error).self) { try Array(bytes[..<length]).withUnsafeBytes { try RecordCodec.decodeIdentity($0) } }
        }
    }

    // Format 1 as stored before identity facts were attributed: a person (tag 1), name, identifier,
    // birth date (days since 1970, zigzag), phone, address.
    static let formatOnePersonBytes: [UInt8] = [
        0x01, 0x01, 0x06, 0xE5, 0xBC, 0xA0, 0xE4, 0xBC, 0x9F, 0x12, 0x31, 0x31, 0x30, 0x31, 0x30, 0x35, 0x31, 0x39, 0x34, 0x39,
        0x31, 0x32, 0x33, 0x31, 0x30, 0x30, 0x32, 0x58, 0x93, 0x72, 0x0B, 0x31, 0x33, 0x38, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30,
        0x30, 0x30, 0x09, 0xE5, 0x8C, 0x97, 0xE4, 0xBA, 0xAC, 0xE5, 0xB8, 0x82, 0x09, 0xE5, 0x8C, 0x97, 0xE4, 0xBA, 0xAC, 0xE5,
        0xB8, 0x82, 0x0F, 0xE4, 0xBA, 0xBA, 0xE6, 0xB0, 0x91, 0xE8, 0xB7, 0xAF, 0x20, 0x31, 0x20, 0xE5, 0x8F, 0xB7,
    ]

    @Test("a person's identity stored in format 1, before attribution, decodes as one unattributed source")
    func formatOnePerson() throws {
        let stored = Self.formatOnePersonBytes
        let sources = try stored.withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
        #expect(sources == [IdentitySource(attribution: nil, identity: .person(Self.person))])
        // Written back, it takes the current format and reads the same.
        let again = try RecordCodec.encode(sources)
        #expect(again.first == RecordCodec.identityFormat)
        #expect(try again.withUnsafeBytes { try RecordCodec.decodeIdentity($0) } == sources)
    }

    @Test("a business's registration stored in format 1 decodes as one unattributed source")
    func formatOneBusiness() throws {
        let stored: [UInt8] = [
            0x01, 0x02, 0x1E, 0xE5, 0x8C, 0x97, 0xE4, 0xBA, 0xAC, 0xE7, 0xA4, 0xBA, 0xE8, 0x8C, 0x83, 0xE5, 0x88, 0xB6, 0xE9, 0x80,
            0xA0, 0xE6, 0x9C, 0x89, 0xE9, 0x99, 0x90, 0xE5, 0x85, 0xAC, 0xE5, 0x8F, 0xB8, 0x12, 0x39, 0x31, 0x31, 0x31, 0x30, 0x30,
            0x30, 0x30, 0x32, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x31, 0x33, 0x46, 0x86, 0xDB, 0x01, 0x09, 0xE5, 0x8C, 0x97, 0xE4,
            0xBA, 0xAC, 0xE5, 0xB8, 0x82, 0x09, 0xE5, 0x8C, 0x97, 0xE4, 0xBA, 0xAC, 0xE5, 0xB8, 0x82, 0x1C, 0xE6, 0x9C, 0x9D, 0xE9,
            0x98, 0xB3, 0xE5, 0x8C, 0xBA, 0xE9, 0x85, 0x92, 0xE4, 0xBB, 0x99, 0xE6, 0xA1, 0xA5, 0xE8, 0xB7, 0xAF, 0x20, 0x31, 0x30,
            0x20, 0xE5, 0x8F, 0xB7, 0x09, 0xE7, 0x8E, 0x8B, 0xE5, 0xBB, 0xBA, 0xE5, 0x9B, 0xBD, 0x12, 0x31, 0x31, 0x30, 0x31, 0x30,
            0x35, 0x31, 0x39, 0x34, 0x39, 0x31, 0x32, 0x33, 0x31, 0x30, 0x30, 0x32, 0x58,
        ]
        let sources = try stored.withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
        let registration = BusinessRegistration(
            name: "北京示范制造有限公司", code: "91110000200000013F", registrationDate: CalendarDate(year: 2008, month: 5, day: 20)!,
            address: Address(province: "北京市", city: "北京市", detail: "朝阳区酒仙桥路 10 号"),
            legalRepresentativeName: "王建国", legalRepresentativeIdentifier: "11010519491231002X"
        )
        #expect(sources == [IdentitySource(attribution: nil, identity: .business(registration))])
    }

    @Test("the fuzz seeds for stored identities decode, in both formats", arguments: ["subject-person", "subject-business", "identity-person", "identity-business"])
    func fuzzSeeds(name: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/Seeds/FuzzEntries/\(name)")
        let seed = try Data(contentsOf: path)
        // The first byte picks FuzzEntries' decoder (1: identity); the rest is the stored value.
        let sources = try Array(seed.dropFirst()).withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
        #expect(sources.count == (name == "identity-person" ? 3 : 1))
        #expect(try RecordCodec.encode(sources).withUnsafeBytes { try RecordCodec.decodeIdentity($0) } == sources)
    }

    @Test("two sources of one furnisher, or none at all, are malformed")
    func duplicateOrNoSource() throws {
        var twice = Self.sources
        twice[2].attribution?.furnisher = Self.bank
        let bytes = try RecordCodec.encode(twice)
        #expect(throws: (any Error).self) { try bytes.withUnsafeBytes { try RecordCodec.decodeIdentity($0) } }
        #expect(throws: BureauError.self) { try RecordCodec.encode([]) }
    }

    @Test("sources naming different subjects are refused, not stored under one key")
    func sourcesOfAnotherSubject() {
        var other = Self.person
        other.identifier = "440305199207045670"
        #expect(throws: BureauError.self) {
            try RecordCodec.encode(Self.sources + [IdentitySource(attribution: nil, identity: .person(other))])
        }
    }
}
