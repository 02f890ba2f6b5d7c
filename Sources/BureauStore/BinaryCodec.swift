import BureauCore

/// A compact, versioned binary encoding for stored values: LEB128 varints, zigzag for signed numbers,
/// length-prefixed UTF-8, dates as days since 1970, a presence byte before optional values. Each stored
/// value starts with a format byte so that the layout can change without a migration of old values.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    init(format: UInt8) {
        self.bytes.reserveCapacity(128)
        self.bytes.append(format)
    }

    mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            self.bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.bytes.append(UInt8(v))
    }

    mutating func int(_ value: Int64) { self.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            self.varint(UInt64(utf8.count))
            self.bytes.append(contentsOf: utf8)
        }
    }

    mutating func date(_ value: CalendarDate) { self.int(Int64(value.daysSinceEpoch)) }

    mutating func optionalDate(_ value: CalendarDate?) {
        if let value {
            self.byte(1)
            self.date(value)
        } else {
            self.byte(0)
        }
    }

    mutating func money(_ value: Money) {
        self.int(value.minorUnits)
        self.string(value.currency)
    }

    mutating func address(_ value: Address) {
        self.string(value.province)
        self.string(value.city)
        self.string(value.detail)
    }

    mutating func legalBasis(_ value: LegalBasis?) {
        guard let value else { return self.byte(0) }
        self.byte(1)
        self.string(value.documentNumber)
        self.string(value.authority)
        self.date(value.date)
    }
}

/// Reads what ``BinaryWriter`` wrote; every read checks bounds and throws on malformed input.
package struct BinaryReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    /// A stored value is malformed or of an unknown format.
    package struct Malformed: Error, CustomStringConvertible {
        package var what: String
        package init(what: String) { self.what = what }
        package var description: String { "stored value is malformed: \(self.what)" }
    }

    /// The value's format byte.
    private(set) var format: UInt8 = 0

    /// Starts reading `bytes`, checking the format byte.
    init(_ bytes: UnsafeRawBufferPointer, format: UInt8) throws {
        try self.init(bytes, formats: format...format)
    }

    /// Starts reading `bytes` of any format in `formats` (a value whose layout changed); ``format`` says which.
    init(_ bytes: UnsafeRawBufferPointer, formats: ClosedRange<UInt8>) throws {
        self.bytes = bytes
        let found = try self.byte()
        guard formats.contains(found) else {
            throw Malformed(what: "format \(found), expected \(formats.count == 1 ? "\(formats.lowerBound)" : "\(formats)")")
        }
        self.format = found
    }

    /// The bytes not read yet.
    var remaining: Int { self.bytes.count - self.offset }

    mutating func byte() throws -> UInt8 {
        guard self.offset < self.bytes.count else { throw Malformed(what: "truncated") }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try self.byte()
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            guard shift < 64 else { throw Malformed(what: "varint too long") }
        }
    }

    mutating func int() throws -> Int64 {
        let v = try self.varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func string() throws -> String {
        // A length beyond Int (found by FuzzEntries) is as malformed as one past the end.
        guard let count = Int(exactly: try self.varint()), count <= self.bytes.count - self.offset else {
            throw Malformed(what: "string past the end")
        }
        defer { self.offset += count }
        return String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[self.offset..<(self.offset + count)]), as: UTF8.self)
    }

    /// Stored dates lie in years 1 to 9999, as CalendarDate allows; anything else would overflow the calendar arithmetic.
    static let dayRange = Int64(CalendarDate(year: 1, month: 1, day: 1)!.daysSinceEpoch)...Int64(CalendarDate(year: 9999, month: 12, day: 31)!.daysSinceEpoch)

    mutating func date() throws -> CalendarDate {
        let days = try self.int()
        guard Self.dayRange.contains(days) else { throw Malformed(what: "date \(days) days from 1970 is outside years 1 to 9999") }
        return CalendarDate(daysSinceEpoch: Int(days))
    }

    mutating func optionalDate() throws -> CalendarDate? { try self.byte() == 1 ? try self.date() : nil }

    mutating func money() throws -> Money { Money(minorUnits: try self.int(), currency: try self.string()) }

    mutating func address() throws -> Address { Address(province: try self.string(), city: try self.string(), detail: try self.string()) }

    mutating func legalBasis() throws -> LegalBasis? {
        guard try self.byte() == 1 else { return nil }
        return LegalBasis(documentNumber: try self.string(), authority: try self.string(), date: try self.date())
    }

    mutating func enumeration<T: CaseIterable>(_ type: T.Type) throws -> T {
        let index = Int(try self.byte())
        let all = Array(T.allCases)
        guard index < all.count else { throw Malformed(what: "\(T.self) value \(index)") }
        return all[index]
    }
}

extension BinaryWriter {
    mutating func enumeration<T: CaseIterable & Equatable>(_ value: T) {
        self.byte(UInt8(Array(T.allCases).firstIndex(of: value)!))
    }
}
