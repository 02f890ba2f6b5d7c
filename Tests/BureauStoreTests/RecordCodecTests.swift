import BureauCore
import BureauStore
import Testing

/// The stored-value codec refuses malformed bytes with an error instead of trapping. The inputs are
/// the crashes FuzzEntries found (kept in Fuzz/Regressions/FuzzEntries).
@Suite struct RecordCodecTests {
    static let furnisher = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

    @Test func aStringLengthBeyondIntIsMalformed() {
        // Format 1, a person, then a name whose length varint is 2^63 or more.
        let bytes: [UInt8] = [0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(throws: (any Error).self) { try bytes.withUnsafeBytes { try RecordCodec.decodeSubject($0) } }
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

    @Test func truncatedValuesAreMalformed() throws {
        let person = CreditFile.Subject.person(
            PersonIdentity(name: "张伟", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                           phone: "13800000000", address: Address(province: "北京市", city: "北京市", detail: "人民路 1 号"))
        )
        let bytes = RecordCodec.encode(person)
        #expect(try bytes.withUnsafeBytes { try RecordCodec.decodeSubject($0) } == person)
        for length in 0..<bytes.count {
            #expect(throws: (any Error).self) { try Array(bytes[..<length]).withUnsafeBytes { try RecordCodec.decodeSubject($0) } }
        }
    }
}
