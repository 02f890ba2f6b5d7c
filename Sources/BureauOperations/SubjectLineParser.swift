import BureauCore

/// A fast reader of the common shape of a bulk line (``SubjectLine``), for the importer: a strict subset of
/// JSON read straight into the line's fields, about four times cheaper than `JSONDecoder` (which took most of
/// an import's parsing time).
///
/// It gives up (nil) at anything outside that subset: an escape in a string, a control character, invalid
/// UTF-8, a number with a fraction or exponent or out of range, a key it does not know or seen twice, a
/// missing required field, trailing bytes. The importer then decodes the line with `JSONDecoder`, which
/// decides, and words the error. So on every line it reads, it gives what `JSONDecoder` gives, or nothing
/// (the property its tests check, on hand-written and mutated lines).
package struct SubjectLineParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    private struct GiveUp: Error {}

    /// The line `line` holds, or nil when it is not in the subset this reader takes.
    package static func parse(_ line: [UInt8]) -> SubjectLine? {
        line.withUnsafeBufferPointer { buffer in
            var parser = SubjectLineParser(bytes: buffer)
            guard let subject = try? parser.subjectLine() else { return nil }
            parser.skipSpace()
            return parser.at == buffer.count ? subject : nil
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Tokens

    private mutating func skipSpace() {
        while self.at < self.bytes.count {
            switch self.bytes[self.at] {
            case 0x20, 0x09, 0x0A, 0x0D: self.at += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws(GiveUp) {
        self.skipSpace()
        guard self.at < self.bytes.count, self.bytes[self.at] == byte else { throw GiveUp() }
        self.at += 1
    }

    /// Whether the next token is `byte` (consumed when it is).
    private mutating func next(is byte: UInt8) -> Bool {
        self.skipSpace()
        guard self.at < self.bytes.count, self.bytes[self.at] == byte else { return false }
        self.at += 1
        return true
    }

    /// Whether the next token is `null` (consumed when it is).
    private mutating func null() -> Bool {
        self.skipSpace()
        let null: [UInt8] = [0x6E, 0x75, 0x6C, 0x6C]
        guard self.at + 4 <= self.bytes.count, self.bytes[self.at..<(self.at + 4)].elementsEqual(null) else { return false }
        self.at += 4
        return true
    }

    /// The raw bytes of a string without escapes or control characters.
    private mutating func rawString() throws(GiveUp) -> UnsafeBufferPointer<UInt8> {
        try self.expect(0x22)
        let start = self.at
        while self.at < self.bytes.count {
            let byte = self.bytes[self.at]
            if byte == 0x22 {
                self.at += 1
                return UnsafeBufferPointer(rebasing: self.bytes[start..<(self.at - 1)])
            }
            if byte == 0x5C || byte < 0x20 { throw GiveUp() }
            self.at += 1
        }
        throw GiveUp()
    }

    private mutating func string() throws(GiveUp) -> String {
        let raw = try self.rawString()
        // Decoding repairs bad UTF-8 (as U+FFFD); the bytes come back unchanged only when there was none.
        // (`String(validating:as:)` runs unspecialised here: a tenth of the parsing.)
        let text = String(decoding: raw, as: UTF8.self)
        guard text.utf8.elementsEqual(raw) else { throw GiveUp() }
        return text
    }

    private mutating func optionalString() throws(GiveUp) -> String? {
        self.null() ? nil : try self.string()
    }

    private mutating func int64() throws(GiveUp) -> Int64 {
        self.skipSpace()
        let negative = self.at < self.bytes.count && self.bytes[self.at] == 0x2D
        if negative { self.at += 1 }
        let start = self.at
        var value: Int64 = 0
        while self.at < self.bytes.count, (0x30...0x39).contains(self.bytes[self.at]) {
            let digit = Int64(self.bytes[self.at] - 0x30)
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw GiveUp() }
            value = sum
            self.at += 1
        }
        let digits = self.at - start
        guard digits > 0, digits == 1 || self.bytes[start] != 0x30, !(negative && value == 0) else { throw GiveUp() }
        if self.at < self.bytes.count, [0x2E, 0x65, 0x45].contains(self.bytes[self.at]) { throw GiveUp() }
        return value
    }

    /// Reads an object: `field` is called with each key, once per key (a key seen twice gives up).
    private mutating func object(_ field: (inout SubjectLineParser, _ key: UnsafeBufferPointer<UInt8>) throws(GiveUp) -> Int) throws(GiveUp) {
        try self.expect(0x7B)
        if self.next(is: 0x7D) { return }
        var seen: UInt64 = 0
        repeat {
            let key = try self.rawString()
            try self.expect(0x3A)
            let index = try field(&self, key)
            guard seen & (1 << index) == 0 else { throw GiveUp() }
            seen |= 1 << index
        } while self.next(is: 0x2C)
        try self.expect(0x7D)
    }

    private mutating func array<T>(_ element: (inout SubjectLineParser) throws(GiveUp) -> T) throws(GiveUp) -> [T] {
        try self.expect(0x5B)
        var out: [T] = []
        if self.next(is: 0x5D) { return out }
        repeat { out.append(try element(&self)) } while self.next(is: 0x2C)
        try self.expect(0x5D)
        return out
    }

    private mutating func optionalArray<T>(_ element: (inout SubjectLineParser) throws(GiveUp) -> T) throws(GiveUp) -> [T]? {
        self.null() ? nil : try self.array(element)
    }

    private static func required<T>(_ value: T?) throws(GiveUp) -> T {
        guard let value else { throw GiveUp() }
        return value
    }

    private static func `is`(_ key: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
        key.count == name.utf8CodeUnitCount && key.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    // MARK: The line's shapes

    private mutating func subjectLine() throws(GiveUp) -> SubjectLine {
        var furnisher, kind, identifier, name, date: String?
        var phone: String?
        var address: Address?
        var representative: SubjectLine.RepresentativeLine?
        var accounts: [SubjectLine.AccountLine]?
        var publicRecords: [SubjectLine.PublicRecordLine]?
        var listEntries: [SubjectLine.ListEntryLine]?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "furnisher") { furnisher = try p.string(); return 0 }
            if Self.is(key, "kind") { kind = try p.string(); return 1 }
            if Self.is(key, "identifier") { identifier = try p.string(); return 2 }
            if Self.is(key, "name") { name = try p.string(); return 3 }
            if Self.is(key, "date") { date = try p.string(); return 4 }
            if Self.is(key, "phone") { phone = try p.optionalString(); return 5 }
            if Self.is(key, "address") { address = try p.address(); return 6 }
            if Self.is(key, "legal_representative") { representative = p.null() ? nil : try p.representative(); return 7 }
            if Self.is(key, "accounts") { accounts = try p.optionalArray { (p: inout SubjectLineParser) throws(GiveUp) in try p.account() }; return 8 }
            if Self.is(key, "public_records") { publicRecords = try p.optionalArray { (p: inout SubjectLineParser) throws(GiveUp) in try p.publicRecord() }; return 9 }
            if Self.is(key, "list_entries") { listEntries = try p.optionalArray { (p: inout SubjectLineParser) throws(GiveUp) in try p.listEntry() }; return 10 }
            throw GiveUp()
        }
        return SubjectLine(
            furnisher: try Self.required(furnisher), kind: try Self.required(kind), identifier: try Self.required(identifier),
            name: try Self.required(name), date: try Self.required(date), phone: phone, address: try Self.required(address),
            legalRepresentative: representative, accounts: accounts, publicRecords: publicRecords, listEntries: listEntries
        )
    }

    private mutating func address() throws(GiveUp) -> Address {
        var province, city, detail: String?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "province") { province = try p.string(); return 0 }
            if Self.is(key, "city") { city = try p.string(); return 1 }
            if Self.is(key, "detail") { detail = try p.string(); return 2 }
            throw GiveUp()
        }
        return Address(province: try Self.required(province), city: try Self.required(city), detail: try Self.required(detail))
    }

    private mutating func representative() throws(GiveUp) -> SubjectLine.RepresentativeLine {
        var name, identifier: String?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "name") { name = try p.string(); return 0 }
            if Self.is(key, "identifier") { identifier = try p.string(); return 1 }
            throw GiveUp()
        }
        return SubjectLine.RepresentativeLine(name: try Self.required(name), identifier: try Self.required(identifier))
    }

    private mutating func money() throws(GiveUp) -> SubjectLine.MoneyLine {
        var minorUnits: Int64?
        var currency: String?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "minor_units") { minorUnits = try p.int64(); return 0 }
            if Self.is(key, "currency") { currency = try p.string(); return 1 }
            throw GiveUp()
        }
        return SubjectLine.MoneyLine(minorUnits: try Self.required(minorUnits), currency: try Self.required(currency))
    }

    private mutating func legalBasis() throws(GiveUp) -> SubjectLine.LegalBasisLine? {
        if self.null() { return nil }
        var number, authority, date: String?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "document_number") { number = try p.string(); return 0 }
            if Self.is(key, "authority") { authority = try p.string(); return 1 }
            if Self.is(key, "date") { date = try p.string(); return 2 }
            throw GiveUp()
        }
        return SubjectLine.LegalBasisLine(documentNumber: try Self.required(number), authority: try Self.required(authority), date: try Self.required(date))
    }

    private mutating func account() throws(GiveUp) -> SubjectLine.AccountLine {
        var number, type, opened, status, history: String?
        var limit, balance: SubjectLine.MoneyLine?
        var closed, behaviourEnded: String?
        var legalBasis: SubjectLine.LegalBasisLine?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "account_number") { number = try p.string(); return 0 }
            if Self.is(key, "type") { type = try p.string(); return 1 }
            if Self.is(key, "opened") { opened = try p.string(); return 2 }
            if Self.is(key, "limit") { limit = try p.money(); return 3 }
            if Self.is(key, "balance") { balance = try p.money(); return 4 }
            if Self.is(key, "status") { status = try p.string(); return 5 }
            if Self.is(key, "payment_history") { history = try p.string(); return 6 }
            if Self.is(key, "closed") { closed = try p.optionalString(); return 7 }
            if Self.is(key, "legal_basis") { legalBasis = try p.legalBasis(); return 8 }
            if Self.is(key, "behaviour_ended") { behaviourEnded = try p.optionalString(); return 9 }
            throw GiveUp()
        }
        return SubjectLine.AccountLine(
            accountNumber: try Self.required(number), type: try Self.required(type), opened: try Self.required(opened),
            limit: try Self.required(limit), balance: try Self.required(balance), status: try Self.required(status),
            paymentHistory: try Self.required(history), closed: closed, legalBasis: legalBasis, behaviourEnded: behaviourEnded
        )
    }

    private mutating func publicRecord() throws(GiveUp) -> SubjectLine.PublicRecordLine {
        var id, type, authority, filed: String?
        var legalBasis: SubjectLine.LegalBasisLine?
        var amount: SubjectLine.MoneyLine?
        var behaviourEnded, description: String?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "record_id") { id = try p.string(); return 0 }
            if Self.is(key, "type") { type = try p.string(); return 1 }
            if Self.is(key, "authority") { authority = try p.string(); return 2 }
            if Self.is(key, "legal_basis") { legalBasis = try p.legalBasis(); return 3 }
            if Self.is(key, "amount") { amount = p.null() ? nil : try p.money(); return 4 }
            if Self.is(key, "filed") { filed = try p.string(); return 5 }
            if Self.is(key, "behaviour_ended") { behaviourEnded = try p.optionalString(); return 6 }
            if Self.is(key, "description") { description = try p.optionalString(); return 7 }
            throw GiveUp()
        }
        return SubjectLine.PublicRecordLine(
            recordID: try Self.required(id), type: try Self.required(type), authority: try Self.required(authority), legalBasis: legalBasis,
            amount: amount, filed: try Self.required(filed), behaviourEnded: behaviourEnded, description: description
        )
    }

    private mutating func listEntry() throws(GiveUp) -> SubjectLine.ListEntryLine {
        var id, list, reason, listed, publicityEnds: String?
        var severity: String?
        var legalBasis: SubjectLine.LegalBasisLine?
        try self.object { (p: inout SubjectLineParser, key) throws(GiveUp) -> Int in
            if Self.is(key, "record_id") { id = try p.string(); return 0 }
            if Self.is(key, "list") { list = try p.string(); return 1 }
            if Self.is(key, "severity") { severity = try p.optionalString(); return 2 }
            if Self.is(key, "reason") { reason = try p.string(); return 3 }
            if Self.is(key, "legal_basis") { legalBasis = try p.legalBasis(); return 4 }
            if Self.is(key, "listed") { listed = try p.string(); return 5 }
            if Self.is(key, "publicity_ends") { publicityEnds = try p.string(); return 6 }
            throw GiveUp()
        }
        return SubjectLine.ListEntryLine(
            recordID: try Self.required(id), list: try Self.required(list), severity: severity, reason: try Self.required(reason),
            legalBasis: legalBasis, listed: try Self.required(listed), publicityEnds: try Self.required(publicityEnds)
        )
    }
}
